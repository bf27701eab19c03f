"""Devcloud's own admin API under ``/devcloud`` (never faulted, never counted).

- ``GET /devcloud``: summary (resource counts, config, faults)
- ``GET|PUT|DELETE /devcloud/faults``: read / partially update / clear faults
- ``GET|PUT /devcloud/config``: boot_delay, delete_delay, deleted_visible,
  floating_ip_delay, save_delay, reboot_delay, public_url
- ``GET|DELETE /devcloud/counters``: calls per "METHOD /path/template" / zero them
- ``GET /devcloud/request-ids``: the request id of each recent answer (zeroed with counters)
- ``POST /devcloud/reset``: back to the seeded state (body may select parts)
- ``POST /devcloud/seed``: bulk-add images/flavors
- ``POST /devcloud/save``: write the state file now
"""

from __future__ import annotations

from dataclasses import asdict

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from slices_bi.devcloud.faults import Faults
from slices_bi.devcloud.seed import bulk_seed
from slices_bi.devcloud.web import ApiError, dc_of, read_json


def _bad(status: int, message: str) -> ApiError:
    return ApiError(JSONResponse({"error": message}, status_code=status))


async def summary(request: Request) -> Response:
    dc = dc_of(request)
    dc.tick()
    store = dc.store
    counts = {
        name: len(getattr(store, name))
        for name in ("servers", "images", "flavors", "keypairs", "networks", "subnets", "ports")
    }
    counts["floating_ips"] = len(store.floating_ips)
    body = {
        "resources": counts,
        "usage": dict(store.usage),
        "config": asdict(dc.config),
        "faults": dc.faults.to_dict(),
        "identity": {k: v for k, v in asdict(dc.identity).items() if k != "password"},
        "state_file": str(dc.state_file) if dc.state_file else None,
    }
    return JSONResponse(body)


async def faults(request: Request) -> Response:
    dc = dc_of(request)
    if request.method == "PUT":
        try:
            dc.faults.update(await read_json(request, _bad))
        except (TypeError, ValueError) as exc:
            raise _bad(400, str(exc)) from None
    elif request.method == "DELETE":
        dc.faults = Faults()
    return JSONResponse(dc.faults.to_dict())


async def config(request: Request) -> Response:
    dc = dc_of(request)
    if request.method == "PUT":
        try:
            dc.config.update(await read_json(request, _bad))
        except (TypeError, ValueError) as exc:
            raise _bad(400, str(exc)) from None
    return JSONResponse(asdict(dc.config))


async def counters(request: Request) -> Response:
    dc = dc_of(request)
    if request.method == "DELETE":
        dc.counters.clear()
        return Response(status_code=204)
    return JSONResponse(dict(sorted(dc.counters.items())))


async def request_ids(request: Request) -> Response:
    return JSONResponse(list(dc_of(request).request_ids))


async def reset(request: Request) -> Response:
    body = await read_json(request, _bad) if await request.body() else {}
    parts = {k: bool(body.get(k, True)) for k in ("state", "faults", "counters", "config")}
    dc_of(request).reset(**parts)
    return JSONResponse({"reset": [k for k, v in parts.items() if v]})


async def seed(request: Request) -> Response:
    body = await read_json(request, _bad)
    images = body.get("images", 0)
    if not isinstance(images, int | list):
        raise _bad(400, "images must be a count or a list of image specs")
    try:
        added = bulk_seed(
            dc_of(request).store,
            images=images,
            flavors=int(body.get("flavors", 0)),
            image_prefix=str(body.get("image_prefix", "bulk-image")),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise _bad(400, f"invalid seed request: {exc}") from None
    dc_of(request).changed()
    return JSONResponse({"added": added})


async def save(request: Request) -> Response:
    dc = dc_of(request)
    dc.save()
    return JSONResponse({"state_file": str(dc.state_file) if dc.state_file else None})


routes = [
    Route("/devcloud", summary, methods=["GET"]),
    Route("/devcloud/faults", faults, methods=["GET", "PUT", "DELETE"]),
    Route("/devcloud/config", config, methods=["GET", "PUT"]),
    Route("/devcloud/counters", counters, methods=["GET", "DELETE"]),
    Route("/devcloud/request-ids", request_ids, methods=["GET"]),
    Route("/devcloud/reset", reset, methods=["POST"]),
    Route("/devcloud/seed", seed, methods=["POST"]),
    Route("/devcloud/save", save, methods=["POST"]),
]
