"""Neutron v2.0 quotas: ``GET /quotas/{project_id}``, its ``/details`` (limit, used and
reserved per resource, as openstacksdk's ``network.get_quota(..., details=True)`` reads
them; also reachable with Neutron's legacy ``.json`` suffix) and ``/default``.

The floating IP limit is devcloud's ``faults.quota["floating_ips"]`` (-1: unlimited, as in
Neutron); the other limits are Neutron's defaults. Nova's side (instances, cores, RAM) is
``GET /compute/v2.1/limits`` in flavors.py.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from slices_bi.devcloud.runtime import Devcloud
from slices_bi.devcloud.web import dc_of

_V = "/network/v2.0"
DEFAULTS = {
    "floatingip": 50,
    "network": 100,
    "port": 500,
    "rbac_policy": 10,
    "router": 10,
    "security_group": 10,
    "security_group_rule": 100,
    "subnet": 100,
    "subnetpool": -1,
}


def _limits(dc: Devcloud) -> dict[str, int]:
    return {**DEFAULTS, "floatingip": dc.faults.quota.get("floating_ips", -1)}


def _usage(dc: Devcloud, project_id: str) -> dict[str, int]:
    store = dc.store
    if project_id != store.identity.project_id:
        return dict.fromkeys(DEFAULTS, 0)
    own = store.identity.project_id
    return {
        **dict.fromkeys(DEFAULTS, 0),
        "floatingip": sum(1 for f in store.floating_ips.values() if f.project_id == own),
        "network": sum(1 for n in store.networks.values() if n.project_id == own),
        "subnet": sum(1 for s in store.subnets.values() if s.project_id == own),
        "port": len(store.ports),
        "security_group": 1,
    }


async def quota(request: Request) -> Response:
    project_id = request.path_params["project_id"]
    dc = dc_of(request)
    dc.tick()
    limits = DEFAULTS if request.url.path.rstrip("/").endswith("/default") else _limits(dc)
    body: dict[str, Any] = {"quota": dict(limits)}
    if "/details" in request.url.path:
        used = _usage(dc, project_id)
        body = {
            "quota": {
                name: {"limit": limit, "used": used[name], "reserved": 0}
                for name, limit in limits.items()
            }
        }
    return JSONResponse(body)


async def quotas(request: Request) -> Response:
    """Projects with limits other than the defaults (Neutron lists only those)."""
    dc = dc_of(request)
    limits = _limits(dc)
    if limits == DEFAULTS:
        return JSONResponse({"quotas": []})
    return JSONResponse({"quotas": [{**limits, "project_id": dc.store.identity.project_id}]})


routes = [
    Route(f"{_V}/quotas", quotas, methods=["GET"]),
    Route(f"{_V}/quotas/{{project_id}}", quota, methods=["GET"]),
    Route(f"{_V}/quotas/{{project_id}}/details", quota, methods=["GET"]),
    Route(f"{_V}/quotas/{{project_id}}/details.json", quota, methods=["GET"]),
    Route(f"{_V}/quotas/{{project_id}}/default", quota, methods=["GET"]),
]
