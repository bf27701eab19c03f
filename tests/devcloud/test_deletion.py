"""Deleting a server as Nova does it: task_state deleting, then DELETED for a moment
(GET answers 200, lists leave it out), then 404."""

from collections.abc import Callable

import httpx
import pytest
from openstack import exceptions
from openstack.compute.v2.server import Server
from openstack.connection import Connection

from slices_bi.devcloud.server import DevcloudServer

from .helpers import compute_headers, poll, server_gone

Boot = Callable[..., Server]


def test_a_deleted_server_shows_deleted_then_404(
    dc: DevcloudServer, conn: Connection, boot: Boot, token: str
) -> None:
    dc.set_config(deleted_visible=60)  # a window no slow machine misses
    server = conn.compute.wait_for_server(boot(), wait=5, interval=0.05)
    conn.compute.delete_server(server)
    deleted = conn.compute.get_server(server.id)
    assert (deleted.status, deleted.vm_state, deleted.task_state) == ("DELETED", "deleted", None)
    assert deleted.power_state == 0
    assert deleted.addresses == {}
    assert deleted.terminated_at
    assert deleted.fault is None
    raw = httpx.get(f"{dc.url}/compute/v2.1/servers/{server.id}", headers=compute_headers(token))
    assert raw.status_code == 200
    assert raw.json()["server"]["status"] == "DELETED"
    # gone from the lists (Nova without deleted=True) and its resources are freed
    assert server.id not in [s.id for s in conn.compute.servers()]
    assert server.id not in [s.id for s in conn.compute.servers(details=False)]
    assert list(conn.network.ports(device_id=server.id)) == []
    assert conn.compute.get_limits().absolute.instances_used == 0
    # wait_for_delete takes DELETED for done; other calls on the server are Nova's 404
    assert conn.compute.wait_for_delete(server, wait=5, interval=0.05).id == server.id
    with pytest.raises(exceptions.NotFoundException):
        conn.compute.delete_server(server.id, ignore_missing=False)
    assert conn.compute.get(f"/servers/{server.id}/ips").status_code == 404


def test_the_deleted_status_ends_in_404(dc: DevcloudServer, conn: Connection, boot: Boot) -> None:
    dc.set_config(deleted_visible=0.3)
    server = boot()
    conn.compute.delete_server(server)
    assert poll(lambda: server_gone(conn, server.id))
    assert conn.compute.find_server(server.id) is None


def test_without_a_deleted_window_the_delete_is_a_404_at_once(
    dc: DevcloudServer, conn: Connection, boot: Boot
) -> None:
    dc.set_config(deleted_visible=0)
    server = boot()
    conn.compute.delete_server(server)
    assert server_gone(conn, server.id)


def test_a_deleting_server_is_listed_until_the_delete_completes(
    dc: DevcloudServer, conn: Connection, boot: Boot
) -> None:
    dc.set_config(delete_delay=60)
    server = boot()
    conn.compute.delete_server(server)
    (listed,) = conn.compute.servers()
    assert (listed.id, listed.status, listed.task_state) == (server.id, "ACTIVE", "deleting")


def test_a_failed_server_keeps_its_fault_when_deleted(
    dc: DevcloudServer, conn: Connection, boot: Boot
) -> None:
    dc.set_config(deleted_visible=60)
    dc.set_faults(server_error_count=1, server_error_message="No valid host was found.")
    failing = boot()
    conn.compute.delete_server(failing)
    deleted = conn.compute.get_server(failing.id)
    assert deleted.status == "DELETED"
    assert deleted.fault["message"] == "No valid host was found."


def test_deleted_window_survives_a_config_change(
    dc: DevcloudServer, conn: Connection, boot: Boot
) -> None:
    dc.set_config(deleted_visible=60)
    server = boot()
    conn.compute.delete_server(server)
    dc.set_config(deleted_visible=0)  # applies to later deletes only
    assert conn.compute.get_server(server.id).status == "DELETED"
