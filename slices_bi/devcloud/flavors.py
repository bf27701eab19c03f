"""Nova flavors (list/detail/show, admin create/delete, extra specs) and limits."""

from __future__ import annotations

import uuid

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from slices_bi.devcloud.compute_view import flavor_view
from slices_bi.devcloud.microversion import Version, at_least, compute_api
from slices_bi.devcloud.models import Flavor
from slices_bi.devcloud.web import (
    base_url,
    dc_of,
    nova_error,
    nova_links,
    page,
    parse_limit,
    read_json,
)

# -- flavors ------------------------------------------------------------------


async def _flavor_list(request: Request, version: Version, detail: bool) -> Response:
    store = dc_of(request).store
    params = request.query_params
    flavors = sorted(store.flavors.values(), key=lambda f: f.id)  # Nova sorts by flavorid
    try:
        min_ram, min_disk = int(params.get("minRam", 0)), int(params.get("minDisk", 0))
    except ValueError:
        raise nova_error(400, "minRam and minDisk must be integers") from None
    public = params.get("is_public", "true").lower()
    flavors = [
        f
        for f in flavors
        if f.ram >= min_ram
        and f.disk >= min_disk
        and (public in ("none", "") or f.is_public == (public != "false"))
    ]
    limit = parse_limit(params.get("limit"), nova_error, 1000)
    marker = params.get("marker")
    chunk = page(
        flavors, limit, marker, lambda f: f.id, lambda m: nova_error(400, f"marker [{m}] not found")
    )
    base = base_url(request)
    items = [flavor_view(f, version, base, detail) for f in chunk]
    path = "/compute/v2.1/flavors" + ("/detail" if detail else "")
    return JSONResponse({"flavors": items, **nova_links(request, "flavors", path, chunk, limit)})


@compute_api
async def flavors(request: Request, version: Version) -> Response:
    return await _flavor_list(request, version, detail=False)


@compute_api
async def flavors_detail(request: Request, version: Version) -> Response:
    return await _flavor_list(request, version, detail=True)


def _get_flavor(request: Request) -> Flavor:
    flavor_id = request.path_params["flavor_id"]
    flavor = dc_of(request).store.flavors.get(flavor_id)
    if flavor is None:
        raise nova_error(404, f"Flavor {flavor_id} could not be found.")
    return flavor


@compute_api
async def show_flavor(request: Request, version: Version) -> Response:
    return JSONResponse({"flavor": flavor_view(_get_flavor(request), version, base_url(request))})


@compute_api
async def create_flavor(request: Request, version: Version) -> Response:
    store = dc_of(request).store
    spec = (await read_json(request, nova_error)).get("flavor")
    if not isinstance(spec, dict):
        raise nova_error(
            400, "Invalid input for field/attribute flavor. Value: 'flavor' is required"
        )
    try:
        flavor = Flavor(
            id=str(spec.get("id") or uuid.uuid4()),
            name=str(spec["name"]),
            vcpus=int(spec["vcpus"]),
            ram=int(spec["ram"]),
            disk=int(spec["disk"]),
            ephemeral=int(spec.get("OS-FLV-EXT-DATA:ephemeral", 0)),
            swap=int(spec.get("swap") or 0),
            rxtx_factor=float(spec.get("rxtx_factor", 1.0)),
            is_public=bool(spec.get("os-flavor-access:is_public", True)),
            description=spec.get("description") if at_least(version, 2, 55) else None,
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise nova_error(400, f"Invalid input for field/attribute flavor: {exc}") from None
    if flavor.vcpus < 1 or flavor.ram < 1 or flavor.disk < 0:
        raise nova_error(400, "Invalid input for field/attribute flavor: vcpus/ram must be >= 1")
    if flavor.id in store.flavors:
        raise nova_error(409, f"Flavor with ID {flavor.id} already exists.")
    if any(f.name == flavor.name for f in store.flavors.values()):
        raise nova_error(409, f"Flavor with name {flavor.name} already exists.")
    store.flavors[flavor.id] = flavor
    return JSONResponse({"flavor": flavor_view(flavor, version, base_url(request))})


@compute_api
async def delete_flavor(request: Request, version: Version) -> Response:
    flavor = _get_flavor(request)
    del dc_of(request).store.flavors[flavor.id]
    return Response(status_code=202)


@compute_api
async def extra_specs(request: Request, version: Version) -> Response:
    flavor = _get_flavor(request)
    if request.method == "POST":
        specs = (await read_json(request, nova_error)).get("extra_specs")
        if not isinstance(specs, dict):
            raise nova_error(400, "Invalid input for field/attribute extra_specs.")
        flavor.extra_specs.update({str(k): str(v) for k, v in specs.items()})
    return JSONResponse({"extra_specs": dict(flavor.extra_specs)})


# -- limits -------------------------------------------------------------------


@compute_api
async def limits(request: Request, version: Version) -> Response:
    dc = dc_of(request)
    quota, usage = dc.faults.quota, dc.store.usage
    absolute: dict[str, int] = {
        "maxTotalInstances": quota["instances"],
        "maxTotalCores": quota["cores"],
        "maxTotalRAMSize": quota["ram"],
        "totalInstancesUsed": usage["instances"],
        "totalCoresUsed": usage["cores"],
        "totalRAMUsed": usage["ram"],
        "maxServerMeta": 128,
        "maxTotalKeypairs": 100,
        "maxServerGroups": 10,
        "maxServerGroupMembers": 10,
        "totalServerGroupsUsed": 0,
    }
    if not at_least(version, 2, 36):
        fips = len(dc.store.floating_ips)
        absolute.update(maxTotalFloatingIps=quota["floating_ips"], totalFloatingIpsUsed=fips)
        absolute.update(maxSecurityGroups=10, maxSecurityGroupRules=20, totalSecurityGroupsUsed=1)
    if not at_least(version, 2, 39):
        absolute["maxImageMeta"] = 128
    if not at_least(version, 2, 57):
        absolute.update(maxPersonality=5, maxPersonalitySize=10240)
    return JSONResponse({"limits": {"rate": [], "absolute": absolute}})


_V = "/compute/v2.1"
routes = [
    Route(f"{_V}/flavors", flavors, methods=["GET"]),
    Route(f"{_V}/flavors", create_flavor, methods=["POST"]),
    Route(f"{_V}/flavors/detail", flavors_detail, methods=["GET"]),
    Route(f"{_V}/flavors/{{flavor_id}}", show_flavor, methods=["GET"]),
    Route(f"{_V}/flavors/{{flavor_id}}", delete_flavor, methods=["DELETE"]),
    Route(f"{_V}/flavors/{{flavor_id}}/os-extra_specs", extra_specs, methods=["GET", "POST"]),
    Route(f"{_V}/limits", limits, methods=["GET"]),
]
