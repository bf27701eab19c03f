"""Neutron quotas and Nova reboots as openstacksdk reads them from devcloud."""

from __future__ import annotations

import time
from typing import Any

import pytest
from openstack import exceptions as sdk_exc


def _server(conn: Any) -> Any:
    image = conn.image.find_image("Debian 12.5")
    flavor = conn.compute.find_flavor("m1.tiny")
    net = conn.network.find_network("private")
    server = conn.compute.create_server(
        name="q", image_id=image.id, flavor_id=flavor.id, networks=[{"uuid": net.id}]
    )
    return conn.compute.wait_for_server(server, wait=10, interval=0.05)


def test_neutron_quota_details_follow_the_fault_quota(devcloud: Any) -> None:
    conn = devcloud.connect()
    details = conn.network.get_quota(conn.current_project_id, details=True)
    assert details.floating_ips == {"limit": -1, "used": 0, "reserved": 0}
    devcloud.set_faults(quota={"floating_ips": 2})
    public = conn.network.find_network("public")
    conn.network.create_ip(floating_network_id=public.id)
    details = conn.network.get_quota(conn.current_project_id, details=True)
    assert details.floating_ips == {"limit": 2, "used": 1, "reserved": 0}
    assert conn.network.get_quota(conn.current_project_id).floating_ips == 2
    absolute = conn.compute.get_limits().absolute
    assert (absolute.instances, absolute.instances_used) == (-1, 0)


def test_reboot_shows_reboot_then_active(devcloud: Any) -> None:
    devcloud.set_boot_delay(0)
    devcloud.set_config(reboot_delay=0.5)
    conn = devcloud.connect()
    server = _server(conn)
    conn.compute.reboot_server(server.id, "SOFT")
    assert conn.compute.get_server(server.id).status == "REBOOT"
    with pytest.raises(sdk_exc.ConflictException):
        conn.compute.reboot_server(server.id, "SOFT")
    conn.compute.reboot_server(server.id, "HARD")
    assert conn.compute.get_server(server.id).status == "HARD_REBOOT"
    deadline = time.monotonic() + 10
    while conn.compute.get_server(server.id).status != "ACTIVE":
        assert time.monotonic() < deadline
        time.sleep(0.05)
