"""One devcloud per test session; every test starts from the seeded state."""

from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from openstack.compute.v2.server import Server
from openstack.connection import Connection

from slices_bi.devcloud.server import DevcloudServer

from .helpers import password_auth


@pytest.fixture(scope="session")
def fast_devcloud() -> Iterator[DevcloudServer]:
    """A devcloud without boot, delete and floating IP delays, shared by the tests of this
    folder (deleted servers still show as DELETED for a moment, as in Nova)."""
    with DevcloudServer(boot_delay=0.0, delete_delay=0.0, floating_ip_delay=0.0) as server:
        yield server


@pytest.fixture
def dc(fast_devcloud: DevcloudServer) -> Iterator[DevcloudServer]:
    """The session devcloud, reset to seeded state, no faults, zero counters."""
    fast_devcloud.reset()
    yield fast_devcloud
    fast_devcloud.clear_faults()


@pytest.fixture(scope="session")
def session_conn(fast_devcloud: DevcloudServer) -> Iterator[Connection]:
    conn = fast_devcloud.connect()
    yield conn
    conn.close()


@pytest.fixture
def conn(dc: DevcloudServer, session_conn: Connection) -> Connection:
    """An SDK connection to a freshly reset devcloud."""
    return session_conn


@pytest.fixture
def private_net_id(conn: Connection) -> str:
    network = conn.network.find_network("private", ignore_missing=False)
    return str(network.id)


@pytest.fixture
def image_id(conn: Connection) -> str:
    return str(conn.image.find_image("Debian 12.5", ignore_missing=False).id)


@pytest.fixture
def boot(conn: Connection, image_id: str, private_net_id: str) -> Callable[..., Server]:
    """Create a server on the private network (m1.tiny, Debian) with extra attributes."""

    def create(name: str = "vm", **attrs: Any) -> Server:
        attrs.setdefault("networks", [{"uuid": private_net_id}])
        return conn.compute.create_server(name=name, image_id=image_id, flavor_id="1", **attrs)

    return create


@pytest.fixture
def token(dc: DevcloudServer) -> str:
    """A project-scoped token, for raw HTTP calls."""
    response = httpx.post(f"{dc.auth_url}/auth/tokens", json=password_auth())
    assert response.status_code == 201
    return response.headers["X-Subject-Token"]
