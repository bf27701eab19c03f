"""Keystone v3 over raw HTTP: discovery, password auth, catalog, validation, token checks."""

import httpx

from slices_bi.devcloud.server import DevcloudServer

from .helpers import password_auth


def test_version_documents(dc: DevcloudServer) -> None:
    root = httpx.get(f"{dc.url}/identity")
    assert root.status_code == 300
    assert root.json()["versions"]["values"][0]["id"].startswith("v3")
    v3 = httpx.get(f"{dc.url}/identity/v3/").json()["version"]
    assert v3["status"] == "stable"
    assert v3["links"][0]["href"] == f"{dc.url}/identity/v3/"


def test_password_auth_returns_token_and_catalog(dc: DevcloudServer) -> None:
    response = httpx.post(f"{dc.auth_url}/auth/tokens", json=password_auth())
    assert response.status_code == 201
    assert response.headers["X-Subject-Token"]
    token = response.json()["token"]
    assert token["project"]["name"] == "demo"
    assert token["user"]["name"] == "demo"
    assert token["user"]["domain"]["name"] == "Default"
    urls = {entry["type"]: entry["endpoints"][0]["url"] for entry in token["catalog"]}
    assert urls == {
        "identity": f"{dc.url}/identity",
        "compute": f"{dc.url}/compute/v2.1",
        "image": f"{dc.url}/image",
        "network": f"{dc.url}/network",
    }
    interfaces = {e["interface"] for e in token["catalog"][0]["endpoints"]}
    assert interfaces == {"public", "internal", "admin"}


def test_wrong_password_and_project_are_401(dc: DevcloudServer) -> None:
    bad = httpx.post(f"{dc.auth_url}/auth/tokens", json=password_auth(password="nope"))
    assert bad.status_code == 401
    assert bad.json()["error"]["code"] == 401
    other = httpx.post(f"{dc.auth_url}/auth/tokens", json=password_auth(project="other"))
    assert other.status_code == 401


def test_token_validation_and_revocation(dc: DevcloudServer, token: str) -> None:
    headers = {"X-Auth-Token": token, "X-Subject-Token": token}
    got = httpx.get(f"{dc.auth_url}/auth/tokens", headers=headers)
    assert got.status_code == 200
    assert got.json()["token"]["project"]["name"] == "demo"
    assert httpx.head(f"{dc.auth_url}/auth/tokens", headers=headers).status_code == 200
    unknown = {"X-Auth-Token": token, "X-Subject-Token": "nope"}
    assert httpx.get(f"{dc.auth_url}/auth/tokens", headers=unknown).status_code == 404
    assert httpx.delete(f"{dc.auth_url}/auth/tokens", headers=headers).status_code == 204
    servers = httpx.get(f"{dc.url}/compute/v2.1/servers", headers={"X-Auth-Token": token})
    assert servers.status_code == 401


def test_services_need_a_token_but_version_documents_do_not(dc: DevcloudServer, token: str) -> None:
    for path in ("/compute/v2.1/servers", "/image/v2/images", "/network/v2.0/networks"):
        assert httpx.get(f"{dc.url}{path}").status_code == 401
        assert httpx.get(f"{dc.url}{path}", headers={"X-Auth-Token": token}).status_code == 200
    for path in ("/compute/", "/compute/v2.1/", "/image/", "/network/"):
        assert httpx.get(f"{dc.url}{path}").status_code in (200, 300)


def test_sdk_reauthenticates_when_its_token_is_revoked(dc: DevcloudServer) -> None:
    conn = dc.connect()
    try:
        assert len(list(conn.compute.flavors())) == 4
        token = conn.session.get_token()
        headers = {"X-Auth-Token": token, "X-Subject-Token": token}
        assert httpx.delete(f"{dc.auth_url}/auth/tokens", headers=headers).status_code == 204
        assert len(list(conn.compute.flavors())) == 4  # keystoneauth re-authenticated on the 401
    finally:
        conn.close()
