"""Nova server metadata (``/servers/{id}/metadata``) and tags (``/servers/{id}/tags``)."""

from __future__ import annotations

import time
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from slices_bi.devcloud.compute import get_server
from slices_bi.devcloud.microversion import Version, at_least, compute_api
from slices_bi.devcloud.server_fields import validate_metadata, validate_tags
from slices_bi.devcloud.web import nova_error, read_json

_BASE = "/compute/v2.1/servers/{server_id}"


@compute_api
async def metadata(request: Request, version: Version) -> Response:
    """GET all, POST (merge) or PUT (replace) the metadata of a server."""
    server = get_server(request)
    if request.method != "GET":
        new = validate_metadata((await read_json(request, nova_error)).get("metadata"))
        if request.method == "PUT":
            server.metadata = new
        else:
            server.metadata.update(new)
        server.updated_at = time.time()
    return JSONResponse({"metadata": dict(server.metadata)})


@compute_api
async def metadata_item(request: Request, version: Version) -> Response:
    server = get_server(request)
    key = request.path_params["key"]
    if request.method == "PUT":
        meta: Any = (await read_json(request, nova_error)).get("meta")
        if not isinstance(meta, dict) or list(meta) != [key]:
            raise nova_error(400, "Request body and URI mismatch")
        server.metadata.update(validate_metadata(meta))
        server.updated_at = time.time()
        return JSONResponse({"meta": {key: server.metadata[key]}})
    if key not in server.metadata:
        raise nova_error(404, "Metadata item was not found")
    if request.method == "DELETE":
        del server.metadata[key]
        server.updated_at = time.time()
        return Response(status_code=204)
    return JSONResponse({"meta": {key: server.metadata[key]}})


def _require_tags(version: Version) -> None:
    if not at_least(version, 2, 26):
        raise nova_error(404, "The resource could not be found.")


@compute_api
async def tags(request: Request, version: Version) -> Response:
    """GET, PUT (replace all) or DELETE (all) the tags of a server (2.26+)."""
    _require_tags(version)
    server = get_server(request)
    if request.method == "PUT":
        server.tags = validate_tags((await read_json(request, nova_error)).get("tags"), version)
    elif request.method == "DELETE":
        server.tags = []
        return Response(status_code=204)
    return JSONResponse({"tags": list(server.tags)})


@compute_api
async def tag(request: Request, version: Version) -> Response:
    """Check (GET), add (PUT) or remove (DELETE) one tag."""
    _require_tags(version)
    server = get_server(request)
    value = request.path_params["tag"]
    if request.method == "PUT":
        if value in server.tags:
            return Response(status_code=204)
        server.tags = validate_tags([*server.tags, value], version)
        return Response(status_code=201)
    if value not in server.tags:
        raise nova_error(404, f"Tag {value} could not be found.")
    if request.method == "DELETE":
        server.tags.remove(value)
    return Response(status_code=204)


routes = [
    Route(f"{_BASE}/metadata", metadata, methods=["GET", "POST", "PUT"]),
    Route(f"{_BASE}/metadata/{{key}}", metadata_item, methods=["GET", "PUT", "DELETE"]),
    Route(f"{_BASE}/tags", tags, methods=["GET", "PUT", "DELETE"]),
    Route(f"{_BASE}/tags/{{tag}}", tag, methods=["GET", "PUT", "DELETE"]),
]
