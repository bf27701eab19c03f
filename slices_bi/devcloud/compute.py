"""Nova servers: boot, list (filters, paging), show, update, delete, actions,
addresses, metadata and tags."""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from slices_bi.devcloud.compute_view import (
    addresses,
    is_deleted,
    lifecycle,
    server_summary,
    server_view,
)
from slices_bi.devcloud.microversion import Version, at_least, compute_api
from slices_bi.devcloud.models import Server
from slices_bi.devcloud.server_create import boot
from slices_bi.devcloud.server_fields import scheduler_hints
from slices_bi.devcloud.web import (
    base_url,
    dc_of,
    nova_error,
    nova_links,
    page,
    parse_limit,
    query_values,
    read_json,
)

if TYPE_CHECKING:
    from slices_bi.devcloud.runtime import Devcloud

MAX_LIMIT = 1000


def get_server(request: Request, *, deleted: bool = False) -> Server:
    """The server of the path; with ``deleted``, also one whose delete completed a
    moment ago (Nova still shows it as DELETED to ``GET /servers/{id}``)."""
    server_id = request.path_params["server_id"]
    store = dc_of(request).store
    server = store.servers.get(server_id)
    if server is None and deleted:
        server = store.deleted_servers.get(server_id)
    elif server is not None and not deleted and is_deleted(server, time.time()):
        server = None
    if server is None:
        raise nova_error(404, f"Instance {server_id} could not be found.")
    return server


def _show(request: Request, server: Server, version: Version, status: int = 200) -> Response:
    store = dc_of(request).store
    body = server_view(store, server, version, base_url(request), time.time())
    return JSONResponse({"server": body}, status_code=status)


@compute_api
async def create(request: Request, version: Version) -> Response:
    body = await read_json(request, nova_error)
    servers = boot(dc_of(request), body.get("server"), version, scheduler_hints(body))
    first = servers[0]
    base = base_url(request)
    out: dict[str, Any] = {
        "id": first.id,
        "links": server_summary(first, base)["links"],
        "OS-DCF:diskConfig": "MANUAL",
        "security_groups": [{"name": "default"}],
        "adminPass": first.admin_pass,
    }
    if body.get("return_reservation_id"):
        return JSONResponse({"reservation_id": first.reservation_id}, status_code=202)
    headers = {"Location": out["links"][0]["href"]}
    return JSONResponse({"server": out}, status_code=202, headers=headers)


def _name_filter(pattern: str) -> re.Pattern[str]:
    try:
        return re.compile(pattern)
    except re.error:
        return re.compile(re.escape(pattern))


def _changes_since(request: Request) -> float | None:
    """The `changes-since` filter as a timestamp (None when absent); 400 when unreadable."""
    raw = request.query_params.get("changes-since")
    if raw is None:
        return None
    try:
        parsed = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        raise nova_error(400, f"Invalid input for query parameters changes-since: {raw}") from None
    return (parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).timestamp()


def _select(request: Request, now: float) -> list[Server]:
    """Servers matching the query, newest first (Nova's default order).

    With `changes-since`, only servers changed at or after that time, deleted ones included
    (as Nova lists them then, with status DELETED).
    """
    store = dc_of(request).store
    params = request.query_params
    since = _changes_since(request)
    name = _name_filter(params["name"]) if params.get("name") else None
    statuses = {s.upper() for s in query_values(request, "status")}
    all_tags, any_tags = set(query_values(request, "tags")), set(query_values(request, "tags-any"))
    not_tags, not_any = (
        set(query_values(request, "not-tags")),
        set(query_values(request, "not-tags-any")),
    )
    exact = {
        k: params[k]
        for k in ("image", "flavor", "uuid", "key_name", "availability_zone")
        if params.get(k)
    }
    fields = {"image": "image_id", "flavor": "flavor_id", "uuid": "id"}
    out = []
    candidates = list(store.servers.values())
    if since is not None:
        candidates += list(store.deleted_servers.values())
        candidates.sort(key=lambda s: s.created_at)
    for server in reversed(candidates):
        if since is not None:
            if lifecycle(server, now).updated < since:
                continue
        elif is_deleted(server, now):
            continue  # as Nova without deleted=True or changes-since
        if name is not None and not name.search(server.name):
            continue
        if statuses and lifecycle(server, now).status not in statuses:
            continue
        tags = set(server.tags)
        if not all_tags <= tags or (any_tags and not any_tags & tags):
            continue
        if (not_tags and not_tags <= tags) or (not_any and not_any & tags):
            continue
        if any(str(getattr(server, fields.get(k, k))) != v for k, v in exact.items()):
            continue
        out.append(server)
    return out


async def _list(request: Request, version: Version, detail: bool) -> Response:
    now = time.time()
    limit = parse_limit(request.query_params.get("limit"), nova_error, MAX_LIMIT)
    marker = request.query_params.get("marker")
    selected = _select(request, now)
    chunk = page(
        selected,
        limit,
        marker,
        lambda s: s.id,
        lambda m: nova_error(400, f"marker [{m}] not found"),
    )
    store, base = dc_of(request).store, base_url(request)
    if detail:
        items = [server_view(store, s, version, base, now) for s in chunk]
    else:
        items = [server_summary(s, base) for s in chunk]
    path = "/compute/v2.1/servers" + ("/detail" if detail else "")
    return JSONResponse({"servers": items, **nova_links(request, "servers", path, chunk, limit)})


@compute_api
async def index(request: Request, version: Version) -> Response:
    return await _list(request, version, detail=False)


@compute_api
async def detail(request: Request, version: Version) -> Response:
    return await _list(request, version, detail=True)


@compute_api
async def show(request: Request, version: Version) -> Response:
    return _show(request, get_server(request, deleted=True), version)


@compute_api
async def update(request: Request, version: Version) -> Response:
    server = get_server(request)
    spec = (await read_json(request, nova_error)).get("server")
    if not isinstance(spec, dict):
        raise nova_error(
            400, "Invalid input for field/attribute server. Value: 'server' is required"
        )
    for key, value in spec.items():
        if key == "name" and isinstance(value, str) and 0 < len(value) <= 255:
            server.name = value
        elif key == "description" and at_least(version, 2, 19):
            server.description = value
        elif key not in ("accessIPv4", "accessIPv6", "hostname"):
            raise nova_error(400, f"Invalid input for field/attribute {key}.")
    server.updated_at = time.time()
    return _show(request, server, version)


@compute_api
async def delete(request: Request, version: Version) -> Response:
    dc = dc_of(request)
    server = get_server(request)
    if server.locked:
        raise nova_error(409, f"Instance {server.id} is locked")
    now = time.time()
    dc.store.schedule_delete(server, now, dc.config.delete_delay, dc.config.deleted_visible)
    dc.store.purge_due(now)
    return Response(status_code=204)


@compute_api
async def action(request: Request, version: Version) -> Response:
    server = get_server(request)
    body = await read_json(request, nova_error)
    if len(body) != 1:
        raise nova_error(400, "Exactly one action is required.")
    name = next(iter(body))
    status = lifecycle(server, time.time()).status
    if name == "reboot":
        return _reboot(dc_of(request), server, body["reboot"], status)
    if name in ("os-stop", "os-start", "lock", "unlock"):
        expected = {"os-stop": "ACTIVE", "os-start": "SHUTOFF"}.get(name)
        if expected and status != expected:
            raise nova_error(
                409,
                f"Cannot '{name}' instance {server.id} while it is in vm_state {status.lower()}",
            )
        if name in ("os-stop", "os-start"):
            server.stopped = name == "os-stop"
        else:
            server.locked = name == "lock"
        server.updated_at = time.time()
        return Response(status_code=202)
    raise nova_error(400, f"There is no such action: {name}")


def _reboot(dc: Devcloud, server: Server, spec: object, status: str) -> Response:
    """Nova's reboot: SOFT only from ACTIVE, HARD also from SHUTOFF and during a reboot;
    REBOOT / HARD_REBOOT for ``reboot_delay`` seconds, then ACTIVE."""
    kind = spec.get("type") if isinstance(spec, dict) else None
    if kind not in ("SOFT", "HARD"):
        raise nova_error(400, f"Invalid input for field/attribute type. Value: {kind}.")
    hard = kind == "HARD"
    allowed = ("ACTIVE", "SHUTOFF", "REBOOT", "HARD_REBOOT") if hard else ("ACTIVE",)
    if status not in allowed:
        raise nova_error(
            409,
            f"Cannot 'reboot' instance {server.id} while it is in "
            f"{'task_state' if 'REBOOT' in status else 'vm_state'} {status.lower()}",
        )
    now = time.time()
    server.stopped = False
    server.reboot_hard = hard
    server.reboot_until = now + dc.config.reboot_delay
    server.updated_at = now
    return Response(status_code=202)


@compute_api
async def ips(request: Request, version: Version) -> Response:
    server = get_server(request)
    addrs = addresses(dc_of(request).store, server, time.time())
    label = request.path_params.get("network")
    if label is None:
        return JSONResponse({"addresses": addrs})
    if label not in addrs:
        raise nova_error(404, "Instance is not a member of specified network")
    return JSONResponse({label: addrs[label]})


routes = [
    Route("/compute/v2.1/servers", index, methods=["GET"]),
    Route("/compute/v2.1/servers", create, methods=["POST"]),
    Route("/compute/v2.1/servers/detail", detail, methods=["GET"]),
    Route("/compute/v2.1/servers/{server_id}", show, methods=["GET"]),
    Route("/compute/v2.1/servers/{server_id}", update, methods=["PUT"]),
    Route("/compute/v2.1/servers/{server_id}", delete, methods=["DELETE"]),
    Route("/compute/v2.1/servers/{server_id}/action", action, methods=["POST"]),
    Route("/compute/v2.1/servers/{server_id}/ips", ips, methods=["GET"]),
    Route("/compute/v2.1/servers/{server_id}/ips/{network}", ips, methods=["GET"]),
]
