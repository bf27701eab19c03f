"""Neutron resources as operations and views, shared by the Neutron API and by
Nova (which creates and removes ports when servers boot and go away)."""

from __future__ import annotations

import ipaddress
import random
import time
import uuid
from typing import Any

from slices_bi.devcloud.models import FloatingIP, Network, Port, Subnet
from slices_bi.devcloud.store import Store
from slices_bi.devcloud.web import ApiError, iso, neutron_error

NOVA_OWNER = "compute:nova"


def random_mac() -> str:
    tail = ":".join(f"{random.randrange(256):02x}" for _ in range(3))  # noqa: S311 - not crypto
    return f"fa:16:3e:{tail}"


def create_port(
    store: Store,
    network: Network,
    *,
    fixed_ips: list[dict[str, Any]] | None = None,
    device_id: str = "",
    device_owner: str = "",
    name: str = "",
) -> Port:
    """Create a port with addresses from the network's subnets (Neutron's IPAM)."""
    requests = fixed_ips or [{}]
    allocated: list[dict[str, str]] = []
    try:
        for wanted in requests:
            allocated.append(_allocate(store, network, wanted))
    except ApiError:
        for done in allocated:
            store.release_ip(done["subnet_id"], done["ip_address"])
        raise
    now = time.time()
    port = Port(
        id=str(uuid.uuid4()),
        network_id=network.id,
        project_id=store.identity.project_id,
        mac_address=random_mac(),
        fixed_ips=allocated,
        name=name,
        device_id=device_id,
        device_owner=device_owner,
        security_groups=[default_security_group_id(store)],
        created_at=now,
        updated_at=now,
    )
    store.add_port(port)
    return port


def _allocate(store: Store, network: Network, wanted: dict[str, Any]) -> dict[str, str]:
    subnet_ids = [wanted["subnet_id"]] if wanted.get("subnet_id") else network.subnet_ids
    address = wanted.get("ip_address")
    for subnet_id in subnet_ids:
        subnet = store.subnets.get(subnet_id)
        if subnet is None or subnet.network_id != network.id:
            raise neutron_error(
                400, "InvalidInput", f"Invalid input for operation: subnet {subnet_id}"
            )
        got = store.allocate_ip(subnet, address)
        if got is not None:
            return {"subnet_id": subnet.id, "ip_address": got}
        if address is not None:
            raise neutron_error(
                409,
                "IpAddressAlreadyAllocated",
                f"IP address {address} already allocated in subnet {subnet.id}",
            )
    raise neutron_error(
        409,
        "IpAddressGenerationFailure",
        f"No more IP addresses available on network {network.id}.",
    )


def default_security_group_id(store: Store) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"devcloud-sg-{store.identity.project_id}"))


def port_status(store: Store, port: Port, now: float) -> str:
    """ACTIVE once the server owning the port has booted, DOWN otherwise."""
    server = store.servers.get(port.device_id) if port.device_id else None
    if server is None:
        return "DOWN"
    booted = now >= server.created_at + server.boot_delay and not server.fails
    return "ACTIVE" if booted else "DOWN"


def _common(project_id: str, created: float, updated: float | None = None) -> dict[str, Any]:
    return {
        "project_id": project_id,
        "tenant_id": project_id,
        "created_at": iso(created),
        "updated_at": iso(updated if updated is not None else created),
        "revision_number": 1,
        "tags": [],
    }


def network_view(network: Network) -> dict[str, Any]:
    return {
        "id": network.id,
        "name": network.name,
        "status": "ACTIVE",
        "admin_state_up": network.admin_state_up,
        "shared": network.shared,
        "router:external": network.external,
        "subnets": list(network.subnet_ids),
        "mtu": network.mtu,
        "description": network.description,
        "port_security_enabled": True,
        "is_default": network.external,
        "availability_zone_hints": [],
        "availability_zones": ["nova"],
        "ipv4_address_scope": None,
        "ipv6_address_scope": None,
        "provider:network_type": "flat" if network.external else "geneve",
        "provider:physical_network": "public" if network.external else None,
        "provider:segmentation_id": None,
        **_common(network.project_id, network.created_at),
    }


def subnet_view(subnet: Subnet) -> dict[str, Any]:
    first, last = pool_bounds(subnet.cidr)
    return {
        "id": subnet.id,
        "name": subnet.name,
        "network_id": subnet.network_id,
        "cidr": subnet.cidr,
        "gateway_ip": subnet.gateway_ip,
        "ip_version": subnet.ip_version,
        "enable_dhcp": subnet.enable_dhcp,
        "dns_nameservers": list(subnet.dns_nameservers),
        "allocation_pools": [{"start": first, "end": last}],
        "host_routes": [],
        "ipv6_address_mode": None,
        "ipv6_ra_mode": None,
        "subnetpool_id": None,
        "segment_id": None,
        "service_types": [],
        "description": subnet.description,
        **_common(subnet.project_id, subnet.created_at),
    }


def pool_bounds(cidr: str) -> tuple[str, str]:
    net = ipaddress.ip_network(cidr, strict=False)
    return str(net.network_address + 2), str(net.broadcast_address - 1)


def port_view(store: Store, port: Port, now: float) -> dict[str, Any]:
    return {
        "id": port.id,
        "name": port.name,
        "network_id": port.network_id,
        "mac_address": port.mac_address,
        "fixed_ips": [dict(f) for f in port.fixed_ips],
        "device_id": port.device_id,
        "device_owner": port.device_owner,
        "status": port_status(store, port, now),
        "admin_state_up": port.admin_state_up,
        "description": port.description,
        "security_groups": list(port.security_groups),
        "allowed_address_pairs": [],
        "extra_dhcp_opts": [],
        "port_security_enabled": True,
        "binding:vnic_type": "normal",
        "binding:host_id": "devcloud" if port.device_id else "",
        "binding:vif_type": "ovs" if port.device_id else "unbound",
        "binding:vif_details": {},
        "binding:profile": {},
        **_common(port.project_id, port.created_at, port.updated_at),
    }


def fip_view(fip: FloatingIP) -> dict[str, Any]:
    return {
        "id": fip.id,
        "floating_ip_address": fip.floating_ip_address,
        "floating_network_id": fip.floating_network_id,
        "port_id": fip.port_id,
        "fixed_ip_address": fip.fixed_ip_address,
        "router_id": fip.router_id,
        "status": "ACTIVE" if fip.port_id else "DOWN",
        "description": fip.description,
        "dns_domain": "",
        "dns_name": "",
        "port_details": None,
        "port_forwardings": [],
        "qos_policy_id": None,
        "subnet_id": fip.subnet_id,
        **_common(fip.project_id, fip.created_at, fip.updated_at),
    }


def security_group_view(store: Store) -> dict[str, Any]:
    project = store.identity.project_id
    return {
        "id": default_security_group_id(store),
        "name": "default",
        "description": "Default security group",
        "stateful": True,
        "security_group_rules": [],
        **_common(project, 0.0),
    }
