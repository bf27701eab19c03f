"""Nova microversions: negotiation, echo headers, and the server bodies of the newest
ones, through raw HTTP and through the unmodified openstacksdk at its highest version."""

import base64
from collections.abc import Callable
from typing import Any

import httpx
from openstack.compute.v2.server import Server
from openstack.connection import Connection

from slices_bi.devcloud.server import DevcloudServer

from .helpers import compute_headers

Boot = Callable[..., Server]


def _get(dc: DevcloudServer, token: str, path: str, version: str | None) -> httpx.Response:
    return httpx.get(f"{dc.url}/compute/v2.1/{path}", headers=compute_headers(token, version))


def test_microversions_are_negotiated_and_echoed(
    dc: DevcloudServer, token: str, boot: Boot
) -> None:
    server_id = boot(user_data=base64.b64encode(b"hi").decode(), tags=["t"]).id
    path = f"servers/{server_id}"
    old = _get(dc, token, path, None)
    assert old.headers["OpenStack-API-Version"] == "compute 2.1"
    assert "OS-EXT-SRV-ATTR:user_data" not in old.json()["server"]
    assert set(old.json()["server"]["flavor"]) == {"id", "links"}
    new = _get(dc, token, path, "2.79")
    assert new.headers["OpenStack-API-Version"] == "compute 2.79"
    assert new.headers["X-OpenStack-Nova-API-Version"] == "2.79"
    assert new.json()["server"]["OS-EXT-SRV-ATTR:user_data"] == "aGk="
    assert new.json()["server"]["tags"] == ["t"]
    assert new.json()["server"]["flavor"]["original_name"] == "m1.tiny"
    url = f"{dc.url}/compute/v2.1/{path}"
    legacy = httpx.get(url, headers={"X-Auth-Token": token, "X-OpenStack-Nova-API-Version": "2.26"})
    assert legacy.headers["X-OpenStack-Nova-API-Version"] == "2.26"
    latest = _get(dc, token, path, "latest")
    assert latest.headers["OpenStack-API-Version"] == "compute 2.100"
    assert latest.headers["X-OpenStack-Nova-API-Version"] == "2.100"
    assert _get(dc, token, path, "2.100").status_code == 200
    assert _get(dc, token, path, "2.101").status_code == 406
    assert _get(dc, token, path, "3.0").status_code == 406


def test_version_documents_say_2_100(dc: DevcloudServer) -> None:
    doc = httpx.get(f"{dc.url}/compute/v2.1").json()["version"]
    assert (doc["min_version"], doc["version"]) == ("2.1", "2.100")
    (listed,) = httpx.get(f"{dc.url}/compute").json()["versions"]
    assert listed["version"] == "2.100"


def test_the_sdk_negotiates_its_highest_server_microversion(conn: Connection, boot: Boot) -> None:
    server = conn.compute.get_server(boot().id)
    assert server.microversion == Server._max_microversion == "2.100"


def test_server_bodies_of_the_newest_microversions(
    dc: DevcloudServer, conn: Connection, boot: Boot, token: str
) -> None:
    hints = {"different_host": ["0c3bd0d3-ef4c-4b68-a0b1-0c4bd0a3e5ee"]}
    created = boot(name="new", availability_zone="nova", scheduler_hints=hints)
    server = conn.compute.wait_for_server(created, wait=5, interval=0.05)
    assert server.pinned_availability_zone == "nova"
    assert server.flavor.original_name == "m1.tiny"  # embedded flavor (2.47+)
    path = f"servers/{server.id}"

    def body(version: str) -> dict[str, Any]:
        response = _get(dc, token, path, version)
        assert response.status_code == 200
        found: dict[str, Any] = response.json()["server"]
        return found

    assert body("2.100")["scheduler_hints"] == hints
    assert "scheduler_hints" not in body("2.99")
    assert body("2.98")["image"]["properties"]["os_distro"] == "debian"
    assert "properties" not in body("2.97")["image"]
    assert body("2.96")["pinned_availability_zone"] == "nova"
    assert "pinned_availability_zone" not in body("2.95")
    plain = conn.compute.get_server(boot(name="plain").id)
    assert plain.pinned_availability_zone is None
    assert _get(dc, token, f"servers/{plain.id}", "2.100").json()["server"]["scheduler_hints"] == {}
    detail = _get(dc, token, "servers/detail", "2.100").json()["servers"]
    assert [s["scheduler_hints"] for s in detail] == [{}, hints]  # newest first


def test_sdk_calls_at_the_highest_microversion_still_work(
    conn: Connection, boot: Boot, image_id: str
) -> None:
    server = conn.compute.wait_for_server(boot(name="a", tags=["x"]), wait=5, interval=0.05)
    assert [s.name for s in conn.compute.servers(tags="x")] == ["a"]
    assert [s.id for s in conn.compute.servers(details=False)] == [server.id]
    renamed = conn.compute.update_server(server, name="b")
    assert (renamed.name, renamed.microversion) == ("b", "2.100")
    assert conn.compute.get_server(server.id).image.id == image_id
    conn.compute.stop_server(server)
    assert conn.compute.get_server(server.id).status == "SHUTOFF"
    conn.compute.delete_server(server)
    assert conn.compute.wait_for_delete(server, wait=5, interval=0.05).id == server.id
