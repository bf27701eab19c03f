"""Neutron v2.0: discovery, networks, subnets, ports, security groups, and the list
helpers (filters, fields, paging) shared with floating_ips.py."""

from __future__ import annotations

import ipaddress
import time
import uuid
from collections.abc import Callable, Iterable
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from slices_bi.devcloud import netops
from slices_bi.devcloud.models import Network, Port, Subnet
from slices_bi.devcloud.web import (
    ApiError,
    base_url,
    dc_of,
    neutron_error,
    next_href,
    page,
    parse_limit,
    read_json,
)

_NOT_FILTERS = {"limit", "marker", "fields", "sort_key", "sort_dir", "page_reverse"}
_V = "/network/v2.0"


def _matches(item: dict[str, Any], params: Iterable[tuple[str, list[str]]]) -> bool:
    for key, wanted in params:
        if key not in item:
            continue
        value = item[key]
        if isinstance(value, bool):
            if str(value).lower() not in {w.lower() for w in wanted}:
                return False
        elif isinstance(value, list):
            if not all(w in value for w in wanted):
                return False
        elif str(value) not in wanted and not (value is None and "" in wanted):
            return False
    return True


def listing(request: Request, key: str, items: Iterable[dict[str, Any]]) -> Response:
    """Neutron list semantics: attribute filters (repeat = OR), fields, limit/marker."""
    params = request.query_params
    filters = [(k, params.getlist(k)) for k in params if k not in _NOT_FILTERS and k != "fixed_ips"]
    selected = [i for i in items if _matches(i, filters)]
    limit = parse_limit(params.get("limit"), lambda s, m: neutron_error(s, "BadRequest", m), 10**9)
    marker = params.get("marker")
    chunk = page(selected, limit, marker, lambda i: i["id"], lambda m: not_found("Marker", m))
    body: dict[str, Any] = {key: chunk}
    if "limit" in params and chunk and len(chunk) == limit:
        href = next_href(request, f"{_V}/{key}", chunk[-1]["id"], limit)
        body[f"{key}_links"] = [{"rel": "next", "href": href}]
    fields = [f for f in params.getlist("fields") if f]
    if fields:
        body[key] = [{f: i[f] for f in fields if f in i} for i in chunk]
    return JSONResponse(body)


def not_found(kind: str, item_id: str) -> ApiError:
    return neutron_error(404, f"{kind}NotFound", f"{kind} {item_id} could not be found.")


def lookup(collection: dict[str, Any], kind: str, item_id: str) -> Any:
    item = collection.get(item_id)
    if item is None:
        raise not_found(kind, item_id)
    return item


async def body_of(request: Request, key: str) -> dict[str, Any]:
    spec = (await read_json(request, lambda s, m: neutron_error(s, "BadRequest", m))).get(key)
    if not isinstance(spec, dict):
        raise neutron_error(400, "BadRequest", f"Resource body required: '{key}'")
    return spec


def bad_request(message: str) -> ApiError:
    return neutron_error(400, "BadRequest", f"Bad request: {message}")


# -- discovery ----------------------------------------------------------------


async def versions(request: Request) -> Response:
    link = {"rel": "self", "href": f"{base_url(request)}/network/v2.0/"}
    return JSONResponse({"versions": [{"id": "v2.0", "status": "CURRENT", "links": [link]}]})


async def resources(request: Request) -> Response:
    names = ("network", "subnet", "port", "floatingip", "security-group")
    base = base_url(request)
    items = [
        {"name": n, "collection": f"{n}s", "links": [{"rel": "self", "href": f"{base}{_V}/{n}s"}]}
        for n in names
    ]
    return JSONResponse({"resources": items})


async def extensions(request: Request) -> Response:
    aliases = (
        "external-net",
        "quotas",
        "quota_details",
        "router",
        "security-group",
        "standard-attr-description",
    )
    items = [{"alias": a, "name": a, "description": a, "links": [], "updated": ""} for a in aliases]
    return JSONResponse({"extensions": items})


# -- networks and subnets -----------------------------------------------------


async def networks(request: Request) -> Response:
    store = dc_of(request).store
    if request.method == "GET":
        return listing(
            request, "networks", (netops.network_view(n) for n in store.networks.values())
        )
    spec = await body_of(request, "network")
    network = Network(
        id=str(uuid.uuid4()),
        name=str(spec.get("name", "")),
        project_id=store.identity.project_id,
        external=bool(spec.get("router:external", False)),
        shared=bool(spec.get("shared", False)),
        admin_state_up=bool(spec.get("admin_state_up", True)),
        mtu=int(spec.get("mtu", 1450)),
        description=str(spec.get("description", "")),
        created_at=time.time(),
    )
    store.networks[network.id] = network
    return JSONResponse({"network": netops.network_view(network)}, status_code=201)


async def network(request: Request) -> Response:
    store = dc_of(request).store
    net: Network = lookup(store.networks, "Network", request.path_params["network_id"])
    if request.method == "PUT":
        spec = await body_of(request, "network")
        net.name = str(spec.get("name", net.name))
        net.description = str(spec.get("description", net.description))
    elif request.method == "DELETE":
        if any(p.network_id == net.id for p in store.ports.values()):
            raise neutron_error(
                409,
                "NetworkInUse",
                f"Unable to complete operation on network {net.id}. "
                "There are one or more ports still in use on the network.",
            )
        for subnet_id in net.subnet_ids:
            store.subnets.pop(subnet_id, None)
        del store.networks[net.id]
        return Response(status_code=204)
    return JSONResponse({"network": netops.network_view(net)})


async def subnets(request: Request) -> Response:
    store = dc_of(request).store
    if request.method == "GET":
        return listing(request, "subnets", (netops.subnet_view(s) for s in store.subnets.values()))
    spec = await body_of(request, "subnet")
    net: Network = lookup(store.networks, "Network", str(spec.get("network_id")))
    try:
        cidr = ipaddress.ip_network(str(spec.get("cidr")), strict=False)
    except ValueError:
        raise bad_request(
            f"Invalid input for cidr. Reason: '{spec.get('cidr')}' is not a valid IP subnet."
        ) from None
    gateway = spec.get("gateway_ip", str(cidr.network_address + 1))
    subnet = Subnet(
        id=str(uuid.uuid4()),
        name=str(spec.get("name", "")),
        network_id=net.id,
        cidr=str(cidr),
        gateway_ip=gateway,
        project_id=store.identity.project_id,
        ip_version=cidr.version,
        enable_dhcp=bool(spec.get("enable_dhcp", True)),
        dns_nameservers=list(spec.get("dns_nameservers", [])),
        description=str(spec.get("description", "")),
        created_at=time.time(),
    )
    store.subnets[subnet.id] = subnet
    net.subnet_ids.append(subnet.id)
    return JSONResponse({"subnet": netops.subnet_view(subnet)}, status_code=201)


async def subnet(request: Request) -> Response:
    store = dc_of(request).store
    sub: Subnet = lookup(store.subnets, "Subnet", request.path_params["subnet_id"])
    if request.method == "DELETE":
        if store.used_ips.get(sub.id):
            raise neutron_error(
                409,
                "SubnetInUse",
                f"Unable to complete operation on subnet {sub.id}: "
                "One or more ports have an IP allocation from this subnet.",
            )
        store.networks[sub.network_id].subnet_ids.remove(sub.id)
        del store.subnets[sub.id]
        return Response(status_code=204)
    return JSONResponse({"subnet": netops.subnet_view(sub)})


# -- ports --------------------------------------------------------------------


def _port_matches_fixed(port: Port, wanted: list[str]) -> bool:
    for spec in wanted:
        key, _, value = spec.partition("=")
        if not any(f.get(key) == value for f in port.fixed_ips):
            return False
    return True


async def ports(request: Request) -> Response:
    store = dc_of(request).store
    now = time.time()
    if request.method == "GET":
        device_ids = request.query_params.getlist("device_id")
        candidates: Iterable[Port] = store.ports.values()
        if device_ids:  # index lookup: listing a server's ports stays O(1) in the number of ports
            candidates = (
                [p for d in device_ids for p in store.server_ports(d)]
                if all(device_ids)
                else candidates
            )
        fixed = request.query_params.getlist("fixed_ips")
        chosen = (p for p in candidates if _port_matches_fixed(p, fixed))
        return listing(request, "ports", (netops.port_view(store, p, now) for p in chosen))
    spec = await body_of(request, "port")
    net: Network = lookup(store.networks, "Network", str(spec.get("network_id")))
    port = netops.create_port(
        store,
        net,
        fixed_ips=spec.get("fixed_ips"),
        device_id=str(spec.get("device_id", "")),
        device_owner=str(spec.get("device_owner", "")),
        name=str(spec.get("name", "")),
    )
    port.description = str(spec.get("description", ""))
    port.admin_state_up = bool(spec.get("admin_state_up", True))
    return JSONResponse({"port": netops.port_view(store, port, now)}, status_code=201)


async def port(request: Request) -> Response:
    store = dc_of(request).store
    item: Port = lookup(store.ports, "Port", request.path_params["port_id"])
    if request.method == "DELETE":
        server = store.servers.get(item.device_id)
        if server is not None and item.id in server.owned_port_ids:
            server.owned_port_ids.remove(item.id)
        store.remove_port(item.id)
        return Response(status_code=204)
    if request.method == "PUT":
        spec = await body_of(request, "port")
        item.name = str(spec.get("name", item.name))
        item.description = str(spec.get("description", item.description))
        item.admin_state_up = bool(spec.get("admin_state_up", item.admin_state_up))
        if "device_id" in spec or "device_owner" in spec:
            owner = str(spec.get("device_owner", item.device_owner))
            store.bind_port(item, str(spec.get("device_id", item.device_id)), owner)
        item.updated_at = time.time()
    return JSONResponse({"port": netops.port_view(store, item, time.time())})


async def security_groups(request: Request) -> Response:
    group = netops.security_group_view(dc_of(request).store)
    if "sg_id" in request.path_params:
        if request.path_params["sg_id"] != group["id"]:
            raise not_found("SecurityGroup", request.path_params["sg_id"])
        return JSONResponse({"security_group": group})
    return listing(request, "security_groups", [group])


def _r(path: str, endpoint: Callable[[Request], Any], *methods: str) -> Route:
    return Route(f"{_V}{path}", endpoint, methods=list(methods))


routes = [
    Route("/network", versions, methods=["GET"]),
    Route(_V, resources, methods=["GET"]),
    _r("/extensions", extensions, "GET"),
    _r("/networks", networks, "GET", "POST"),
    _r("/networks/{network_id}", network, "GET", "PUT", "DELETE"),
    _r("/subnets", subnets, "GET", "POST"),
    _r("/subnets/{subnet_id}", subnet, "GET", "DELETE"),
    _r("/ports", ports, "GET", "POST"),
    _r("/ports/{port_id}", port, "GET", "PUT", "DELETE"),
    _r("/security-groups", security_groups, "GET"),
    _r("/security-groups/{sg_id}", security_groups, "GET"),
]
