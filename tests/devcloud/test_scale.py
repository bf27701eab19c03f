"""Hundreds of servers: listed whole, each found by id, none booted meanwhile.

How fast that is belongs to benchmarks/devcloud_capacity.py, not to a test: a busy machine
must not fail the suite.
"""

from openstack.connection import Connection

from slices_bi.devcloud.server import DevcloudServer


def test_hundreds_of_servers(dc: DevcloudServer, conn: Connection, image_id: str) -> None:
    net = conn.network.create_network(name="big")
    conn.network.create_subnet(network_id=net.id, cidr="10.20.0.0/22", ip_version=4)
    dc.set_boot_delay(1000)  # all of them stay in BUILD: nothing runs per server meanwhile
    first = conn.compute.create_server(
        name="many", image_id=image_id, flavor_id="1", networks=[{"uuid": net.id}], max_count=300
    )
    servers = list(conn.compute.servers())
    assert len(servers) == 300
    assert {s.status for s in servers} == {"BUILD"}
    assert len({s.addresses["big"][0]["addr"] for s in servers}) == 300
    assert {s.id for s in servers} >= {first.id}
    assert all(conn.compute.get_server(s.id).name == s.name for s in servers[::30])
    (port,) = conn.network.ports(device_id=first.id)
    assert port.status == "DOWN"  # not booted yet
    assert conn.compute.get_limits().absolute.instances_used == 300
