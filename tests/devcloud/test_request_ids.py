"""Every answer of devcloud's Keystone, Nova, Glance and Neutron carries a request id,
as the real services' (``x-openstack-request-id: req-<uuid>``; Nova also names it
``x-compute-request-id``)."""

import re

import httpx
import pytest
from openstack import exceptions
from openstack.connection import Connection

from slices_bi.devcloud.server import DevcloudServer

from .helpers import password_auth

REQUEST_ID = re.compile(r"req-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")

CALLS = [
    ("GET", "/identity", None),
    ("GET", "/identity/v3", None),
    ("POST", "/identity/v3/auth/tokens", "auth"),
    ("GET", "/identity/v3/auth/tokens", None),  # no subject token: 4xx
    ("GET", "/compute", None),
    ("GET", "/compute/v2.1", None),
    ("GET", "/compute/v2.1/servers", None),
    ("GET", "/compute/v2.1/servers/nope", None),  # 404
    ("GET", "/compute/v2.1/flavors/detail", None),
    ("GET", "/image", None),
    ("GET", "/image/v2/images", None),
    ("GET", "/image/v2/images/nope", None),  # 404 (text body)
    ("GET", "/network", None),
    ("GET", "/network/v2.0/networks", None),
    ("DELETE", "/network/v2.0/ports/nope", None),  # 404
    ("GET", "/network/v2.0/nothing-here", None),  # unknown route
]


@pytest.mark.parametrize(("method", "path", "body"), CALLS, ids=[f"{m} {p}" for m, p, _ in CALLS])
def test_every_answer_has_a_request_id(
    dc: DevcloudServer, token: str, method: str, path: str, body: str | None
) -> None:
    response = httpx.request(
        method,
        f"{dc.url}{path}",
        headers={"X-Auth-Token": token},
        json=password_auth() if body == "auth" else None,
    )
    request_id = response.headers.get("x-openstack-request-id")
    assert request_id is not None, response.status_code
    assert REQUEST_ID.fullmatch(request_id)
    assert response.headers.get_list("x-openstack-request-id") == [request_id]
    if path.startswith("/compute"):
        assert response.headers["x-compute-request-id"] == request_id
    else:
        assert "x-compute-request-id" not in response.headers


def test_request_ids_are_unique_and_on_errors_too(dc: DevcloudServer, token: str) -> None:
    url = f"{dc.url}/network/v2.0/networks"
    ids = {httpx.get(url, headers={"X-Auth-Token": token}).headers["x-openstack-request-id"]}
    ids.add(httpx.get(url).headers["x-openstack-request-id"])  # 401 without a token
    dc.set_faults(error_count={"network": 1})
    injected = httpx.get(url, headers={"X-Auth-Token": token})
    assert injected.status_code == 503
    ids.add(injected.headers["x-openstack-request-id"])
    assert len(ids) == 3
    assert all(REQUEST_ID.fullmatch(i) for i in ids)


def test_the_sdk_reports_the_request_id_of_a_failed_call(
    dc: DevcloudServer, conn: Connection
) -> None:
    list(conn.compute.flavors())
    with pytest.raises(exceptions.NotFoundException) as info:
        conn.compute.get_server("nope")
    assert REQUEST_ID.fullmatch(info.value.request_id or "")
