"""Small helpers for raw-HTTP devcloud tests."""

from typing import Any


def password_auth(password: str = "devcloud", project: str = "demo") -> dict[str, Any]:
    """A Keystone v3 password-auth request body for the seeded demo user."""
    user = {"name": "demo", "domain": {"name": "Default"}, "password": password}
    scope = {"project": {"name": project, "domain": {"name": "Default"}}}
    identity = {"methods": ["password"], "password": {"user": user}}
    return {"auth": {"identity": identity, "scope": scope}}


def compute_headers(token: str, version: str | None = None) -> dict[str, str]:
    headers = {"X-Auth-Token": token}
    if version is not None:
        headers["OpenStack-API-Version"] = f"compute {version}"
    return headers
