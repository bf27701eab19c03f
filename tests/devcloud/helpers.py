"""Small helpers for raw-HTTP devcloud tests and bounded polling."""

import time
from collections.abc import Callable
from typing import Any

from openstack import exceptions
from openstack.connection import Connection


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


def poll(check: Callable[[], bool], timeout: float = 15.0, interval: float = 0.05) -> bool:
    """Call ``check`` until it is true or ``timeout`` seconds passed; its last answer."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            return False
        time.sleep(interval)
    return True


def server_gone(conn: Connection, server_id: str) -> bool:
    """Whether ``GET /servers/{id}`` answers 404 (a DELETED server is not gone yet)."""
    try:
        conn.compute.get_server(server_id)
    except exceptions.NotFoundException:
        return True
    return False
