"""Neutron floating IPs: allocate on an external network, (dis)associate with a
port, list with filters, delete."""

from __future__ import annotations

import time
import uuid

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from slices_bi.devcloud import netops
from slices_bi.devcloud.models import FloatingIP, Network, Port
from slices_bi.devcloud.network import bad_request, body_of, listing, lookup
from slices_bi.devcloud.seed import stable_id
from slices_bi.devcloud.store import Store
from slices_bi.devcloud.web import dc_of, neutron_error


def _associate(
    store: Store, fip: FloatingIP, port_id: str | None, fixed_ip: str | None, nova_delay: float
) -> None:
    """Point ``fip`` at a port (None: disassociate); Nova's ``addresses`` of the server
    show it ``nova_delay`` seconds later."""
    if not port_id:
        store.associate_fip(fip, None, None)
        return
    target: Port = lookup(store.ports, "Port", port_id)
    addresses = [f["ip_address"] for f in target.fixed_ips]
    fixed = fixed_ip or (addresses[0] if addresses else None)
    if fixed is None or fixed not in addresses:
        raise bad_request(f"Port {target.id} does not have fixed ip {fixed}.")
    taken = store.fip_by_port.get(target.id)
    if taken is not None and taken != fip.id:
        raise neutron_error(
            409,
            "FloatingIPPortAlreadyAssociated",
            f"Cannot associate floating IP {fip.floating_ip_address} ({fip.id}) with port "
            f"{target.id} using fixed IP {fixed}, as that fixed IP already has a floating IP "
            f"on external network {fip.floating_network_id}.",
        )
    store.associate_fip(fip, target, fixed, stable_id("router", "router1"))
    fip.addresses_at = time.time() + nova_delay


async def floating_ips(request: Request) -> Response:
    dc = dc_of(request)
    store = dc.store
    if request.method == "GET":
        items = (netops.fip_view(f) for f in store.floating_ips.values())
        return listing(request, "floatingips", items)
    spec = await body_of(request, "floatingip")
    net: Network = lookup(store.networks, "Network", str(spec.get("floating_network_id")))
    if not net.external:
        raise bad_request(f"Network {net.id} is not a valid external network.")
    limit = dc.faults.quota.get("floating_ips", -1)
    if 0 <= limit <= len(store.floating_ips):
        raise neutron_error(409, "OverQuota", "Quota exceeded for resources: ['floatingip'].")
    address = spec.get("floating_ip_address")
    fixed: dict[str, str] | None = None
    for subnet_id in net.subnet_ids:
        got = store.allocate_ip(store.subnets[subnet_id], address)
        if got is not None:
            fixed = {"subnet_id": subnet_id, "ip_address": got}
            break
    if fixed is None:
        raise neutron_error(
            409,
            "IpAddressGenerationFailure",
            f"No more IP addresses available on network {net.id}.",
        )
    now = time.time()
    fip = FloatingIP(
        id=str(uuid.uuid4()),
        floating_ip_address=fixed["ip_address"],
        floating_network_id=net.id,
        subnet_id=fixed["subnet_id"],
        project_id=store.identity.project_id,
        description=str(spec.get("description", "")),
        created_at=now,
        updated_at=now,
    )
    store.add_fip(fip)
    try:
        _associate(
            store,
            fip,
            spec.get("port_id"),
            spec.get("fixed_ip_address"),
            dc.config.floating_ip_delay,
        )
    except Exception:
        store.remove_fip(fip.id)
        raise
    return JSONResponse({"floatingip": netops.fip_view(fip)}, status_code=201)


async def floating_ip(request: Request) -> Response:
    dc = dc_of(request)
    store = dc.store
    fip: FloatingIP = lookup(store.floating_ips, "FloatingIP", request.path_params["fip_id"])
    if request.method == "DELETE":
        store.remove_fip(fip.id)
        return Response(status_code=204)
    if request.method == "PUT":
        spec = await body_of(request, "floatingip")
        if "port_id" in spec:
            _associate(
                store,
                fip,
                spec["port_id"],
                spec.get("fixed_ip_address"),
                dc.config.floating_ip_delay,
            )
        fip.description = str(spec.get("description", fip.description))
        fip.updated_at = time.time()
    return JSONResponse({"floatingip": netops.fip_view(fip)})


routes = [
    Route("/network/v2.0/floatingips", floating_ips, methods=["GET", "POST"]),
    Route("/network/v2.0/floatingips/{fip_id}", floating_ip, methods=["GET", "PUT", "DELETE"]),
]
