"""Neutron through openstacksdk: networks, subnets, server ports, floating IPs."""

from collections.abc import Callable

import pytest
from openstack import exceptions
from openstack.compute.v2.server import Server
from openstack.connection import Connection

from slices_bi.devcloud.server import DevcloudServer

from .helpers import poll

Boot = Callable[..., Server]


def _floating(conn: Connection, server_id: str, via_ips: bool = False) -> list[str]:
    """The floating addresses Nova shows for the server (or its ``/ips``)."""
    if via_ips:
        addresses = conn.compute.get(f"/servers/{server_id}/ips").json()["addresses"]
    else:
        addresses = conn.compute.get_server(server_id).addresses
    return [
        a["addr"]
        for entries in addresses.values()
        for a in entries
        if a["OS-EXT-IPS:type"] == "floating"
    ]


def test_seeded_networks_and_subnets(conn: Connection) -> None:
    private = conn.network.find_network("private")
    public = conn.network.find_network("public")
    assert private is not None
    assert public is not None
    assert not private.is_router_external
    assert public.is_router_external
    assert [n.name for n in conn.network.networks(is_router_external=True)] == ["public"]
    assert [n.name for n in conn.network.networks(id=private.id)] == ["private"]
    cidrs = {s.network_id: s.cidr for s in conn.network.subnets()}
    assert cidrs == {private.id: "10.0.0.0/24", public.id: "172.24.4.0/24"}


def test_server_ports_come_and_go(conn: Connection, boot: Boot) -> None:
    server = boot()
    other = boot()
    (port,) = conn.network.ports(device_id=server.id)
    assert port.device_owner == "compute:nova"
    assert port.status == "ACTIVE"
    address = port.fixed_ips[0]["ip_address"]
    assert conn.compute.get_server(server.id).addresses["private"][0]["addr"] == address
    assert len(list(conn.network.ports())) == 2
    conn.compute.delete_server(server)
    conn.compute.wait_for_delete(server, wait=5, interval=0.05)
    assert list(conn.network.ports(device_id=server.id)) == []
    assert [p.device_id for p in conn.network.ports()] == [other.id]


def test_floating_ip_lifecycle(conn: Connection, boot: Boot) -> None:
    public = conn.network.find_network("public")
    server = boot()
    (port,) = conn.network.ports(device_id=server.id)
    fip = conn.network.create_ip(floating_network_id=public.id, port_id=port.id)
    assert fip.floating_ip_address.startswith("172.24.4.")
    assert fip.status == "ACTIVE"
    assert fip.fixed_ip_address == port.fixed_ips[0]["ip_address"]
    assert [f.id for f in conn.network.ips(port_id=port.id)] == [fip.id]
    kinds = [a["OS-EXT-IPS:type"] for a in conn.compute.get_server(server.id).addresses["private"]]
    assert kinds == ["fixed", "floating"]

    conn.network.update_ip(fip, port_id=None)
    assert conn.network.get_ip(fip.id).status == "DOWN"
    assert list(conn.network.ips(port_id=port.id)) == []

    unbound = conn.network.create_ip(floating_network_id=public.id)
    conn.network.update_ip(unbound, port_id=port.id)
    with pytest.raises(exceptions.ConflictException):
        conn.network.update_ip(fip, port_id=port.id)  # that fixed IP already has one
    conn.compute.delete_server(server)
    conn.compute.wait_for_delete(server, wait=5, interval=0.05)
    assert conn.network.get_ip(unbound.id).port_id is None  # disassociated with the port
    conn.network.delete_ip(fip)
    conn.network.delete_ip(unbound)
    assert list(conn.network.ips()) == []


def test_floating_ip_reaches_nova_addresses_after_a_delay(
    dc: DevcloudServer, conn: Connection, boot: Boot
) -> None:
    public = conn.network.find_network("public")
    server = conn.compute.wait_for_server(boot(), wait=5, interval=0.05)
    (port,) = conn.network.ports(device_id=server.id)
    dc.set_config(floating_ip_delay=60)  # a window no slow machine misses
    fip = conn.network.create_ip(floating_network_id=public.id, port_id=port.id)
    assert conn.network.get_ip(fip.id).port_id == port.id  # Neutron: associated at once
    assert conn.network.get_ip(fip.id).status == "ACTIVE"
    assert _floating(conn, server.id) == []  # Nova: not yet
    assert _floating(conn, server.id, via_ips=True) == []
    dc.set_config(floating_ip_delay=0.3)
    other = conn.network.create_ip(floating_network_id=public.id)
    conn.network.update_ip(fip, port_id=None)
    conn.network.update_ip(other, port_id=port.id)
    assert conn.network.get_ip(other.id).port_id == port.id
    assert poll(lambda: _floating(conn, server.id) == [other.floating_ip_address])
    assert _floating(conn, server.id, via_ips=True) == [other.floating_ip_address]


def test_floating_ip_needs_external_network(conn: Connection, private_net_id: str) -> None:
    with pytest.raises(exceptions.BadRequestException, match="not a valid external network"):
        conn.network.create_ip(floating_network_id=private_net_id)


def test_floating_ip_quota_is_neutron_409(dc: DevcloudServer, conn: Connection) -> None:
    dc.set_faults(quota={"floating_ips": 1})
    public = conn.network.find_network("public")
    conn.network.create_ip(floating_network_id=public.id)
    with pytest.raises(exceptions.ConflictException, match="Quota exceeded"):
        conn.network.create_ip(floating_network_id=public.id)


def test_create_network_subnet_port(conn: Connection, boot: Boot) -> None:
    net = conn.network.create_network(name="bench")
    subnet = conn.network.create_subnet(network_id=net.id, cidr="10.9.0.0/28", ip_version=4)
    assert subnet.gateway_ip == "10.9.0.1"
    servers = [boot(networks=[{"uuid": net.id}]) for _ in range(14)]
    addresses = {p.fixed_ips[0]["ip_address"] for p in conn.network.ports(network_id=net.id)}
    assert len(addresses) == 13  # .2 - .14 (gateway .1, broadcast .15 excluded)
    failed = conn.compute.get_server(servers[-1].id)
    assert failed.status == "ERROR"
    assert "Failed to allocate the network" in failed.fault["message"]
    with pytest.raises(exceptions.ConflictException):
        conn.network.delete_network(net)
