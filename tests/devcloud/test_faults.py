"""Each fault mode, seen through what the unmodified SDK raises against a real cloud."""

import re
import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from keystoneauth1 import exceptions as ksa_exceptions
from openstack import exceptions
from openstack.compute.v2.server import Server
from openstack.connection import Connection

from slices_bi.devcloud.server import DevcloudServer

from .helpers import compute_headers

Boot = Callable[..., Server]


def test_injected_503_is_an_http_exception(dc: DevcloudServer, conn: Connection) -> None:
    list(conn.compute.flavors())  # discovery done before the fault
    dc.set_faults(error_rate={"compute": 1.0})
    with pytest.raises(exceptions.HttpException) as info:
        list(conn.compute.flavors())
    assert info.value.status_code == 503
    assert len(list(conn.network.networks())) == 2  # other services unaffected
    dc.clear_faults()
    assert len(list(conn.compute.flavors())) == 4


def test_error_count_fails_exactly_the_next_calls(dc: DevcloudServer, conn: Connection) -> None:
    list(conn.compute.flavors())
    dc.set_faults(error_count={"compute": 2}, error_status=500)
    for _ in range(2):
        with pytest.raises(exceptions.HttpException) as info:
            list(conn.compute.flavors())
        assert info.value.status_code == 500
    assert len(list(conn.compute.flavors())) == 4
    assert dc.faults()["error_count"]["compute"] == 0


def test_match_limits_faults_to_some_calls(
    dc: DevcloudServer, conn: Connection, boot: Boot
) -> None:
    list(conn.compute.flavors())
    dc.set_faults(error_rate=1.0, match=r"^POST .*/servers$")
    with pytest.raises(exceptions.HttpException):
        boot()
    assert len(list(conn.compute.flavors())) == 4  # GETs pass


def test_connection_reset_is_a_connect_failure(dc: DevcloudServer, conn: Connection) -> None:
    list(conn.compute.flavors())
    dc.set_faults(reset_count={"compute": 1})
    with pytest.raises(ksa_exceptions.ConnectFailure):
        list(conn.compute.flavors())
    assert len(list(conn.compute.flavors())) == 4  # the next call goes through


def test_reset_on_identity_fails_authentication(dc: DevcloudServer) -> None:
    dc.set_faults(reset_rate={"identity": 1.0})
    fresh = dc.connect()
    try:
        with pytest.raises(exceptions.SDKException, match="Unable to establish connection"):
            fresh.authorize()
    finally:
        fresh.close()


def test_latency_is_added(dc: DevcloudServer, conn: Connection) -> None:
    # Only a lower bound: a sleep never ends early, however busy the machine. That other
    # services are left alone is not checked here (an upper bound on time would fail on a
    # loaded machine).
    list(conn.compute.flavors())
    dc.set_faults(latency={"compute": 0.3})
    start = time.monotonic()
    list(conn.compute.flavors())
    assert time.monotonic() - start >= 0.3


def test_server_error_raises_resource_failure(
    dc: DevcloudServer, conn: Connection, boot: Boot
) -> None:
    dc.set_faults(server_error_count=1, server_error_message="No valid host was found.")
    failing = boot()
    with pytest.raises(exceptions.ResourceFailure):
        conn.compute.wait_for_server(failing, wait=5, interval=0.05)
    server = conn.compute.get_server(failing.id)
    assert server.status == "ERROR"
    assert server.vm_state == "error"
    assert server.fault["code"] == 500
    assert server.fault["message"] == "No valid host was found."
    assert server.addresses == {}
    assert conn.compute.wait_for_server(boot(), wait=5, interval=0.05).status == "ACTIVE"


def _raw_server(dc: DevcloudServer, token: str, server_id: str) -> dict[str, Any]:
    url = f"{dc.url}/compute/v2.1/servers/{server_id}"
    response = httpx.get(url, headers=compute_headers(token, "latest"))
    assert response.status_code == 200
    body: dict[str, Any] = response.json()["server"]
    return body


def test_server_error_without_fault_has_no_fault_key(
    dc: DevcloudServer, conn: Connection, boot: Boot, token: str
) -> None:
    dc.set_faults(server_error_without_fault_count=1)
    failing = boot()
    with pytest.raises(exceptions.ResourceFailure):
        conn.compute.wait_for_server(failing, wait=5, interval=0.05)
    server = conn.compute.get_server(failing.id)
    assert (server.status, server.vm_state, server.task_state) == ("ERROR", "error", None)
    assert server.fault is None
    assert "fault" not in _raw_server(dc, token, failing.id)
    listed = httpx.get(f"{dc.url}/compute/v2.1/servers/detail", headers=compute_headers(token))
    assert [("fault" in s, s["status"]) for s in listed.json()["servers"]] == [(False, "ERROR")]
    assert dc.faults()["server_error_without_fault_count"] == 0
    assert conn.compute.wait_for_server(boot(), wait=5, interval=0.05).status == "ACTIVE"


def test_server_error_without_fault_rate(
    dc: DevcloudServer, conn: Connection, boot: Boot, token: str
) -> None:
    dc.set_faults(server_error_without_fault_rate=1.0)
    servers = [_raw_server(dc, token, boot().id) for _ in range(3)]
    assert [(s["status"], "fault" in s) for s in servers] == [("ERROR", False)] * 3


@pytest.mark.parametrize(
    ("code", "message"),
    [
        (500, "No valid host was found. There are not enough hosts available."),
        (403, "Quota exceeded for cores: Requested 2, but already used 20 of 20 cores"),
    ],
)
def test_server_error_carries_the_chosen_fault(
    dc: DevcloudServer, conn: Connection, boot: Boot, token: str, code: int, message: str
) -> None:
    details = 'Traceback (most recent call last):\n  File "nova/conductor/manager.py"'
    dc.set_faults(
        server_error_count=1,
        server_error_code=code,
        server_error_message=message,
        server_error_details=details,
    )
    failing = boot()
    fault = _raw_server(dc, token, failing.id)["fault"]
    assert set(fault) == {"code", "created", "message", "details"}
    assert (fault["code"], fault["message"], fault["details"]) == (code, message, details)
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", fault["created"])
    assert conn.compute.get_server(failing.id).fault == fault


def test_fault_without_details_has_novas_three_keys(
    dc: DevcloudServer, boot: Boot, token: str
) -> None:
    dc.set_faults(server_error_count=1)
    fault = _raw_server(dc, token, boot().id)["fault"]
    assert set(fault) == {"code", "created", "message"}
    assert fault["code"] == 500
    assert fault["message"] == "No valid host was found. There are not enough hosts available."


def test_server_error_rate(dc: DevcloudServer, conn: Connection, boot: Boot) -> None:
    dc.set_faults(server_error_rate=1.0)
    statuses = {conn.compute.get_server(boot().id).status for _ in range(3)}
    assert statuses == {"ERROR"}


def test_instance_quota_is_novas_403(dc: DevcloudServer, conn: Connection, boot: Boot) -> None:
    dc.set_faults(quota={"instances": 2})
    boot()
    boot()
    with pytest.raises(exceptions.ForbiddenException) as info:
        boot()
    assert info.value.status_code == 403
    assert "Quota exceeded for instances: Requested 1, but already used 2 of 2 instances" in str(
        info.value
    )


def test_quota_403_body_is_novas(dc: DevcloudServer, token: str, image_id: str) -> None:
    dc.set_faults(quota={"cores": 0})
    body = {"server": {"name": "x", "imageRef": image_id, "flavorRef": "1", "networks": "none"}}
    headers = {"X-Auth-Token": token, "OpenStack-API-Version": "compute 2.79"}
    response = httpx.post(f"{dc.url}/compute/v2.1/servers", json=body, headers=headers)
    assert response.status_code == 403
    assert response.json() == {
        "forbidden": {
            "code": 403,
            "message": "Quota exceeded for cores: Requested 1, but already used 0 of 0 cores",
        }
    }


def test_invalid_fault_settings_are_rejected(dc: DevcloudServer) -> None:
    for bad in (
        {"error_rate": 2},
        {"nope": 1},
        {"latency": {"mars": 1}},
        {"match": "("},
        {"server_error_code": 42},
        {"server_error_without_fault_count": -1},
        {"server_error_without_fault_rate": 1.5},
        {"server_error_message": None},
        {"server_error_details": 7},
    ):
        with pytest.raises(httpx.HTTPStatusError) as info:
            dc.set_faults(**bad)
        assert info.value.response.status_code == 400


def test_faults_start_with_the_server() -> None:
    with DevcloudServer(boot_delay=0, faults={"error_count": {"compute": 1}}) as dc:
        assert dc.faults()["error_count"]["compute"] == 1
