"""Glance v2: version discovery, list (filters, sort, limit/marker paging), get,
create (metadata), upload, JSON-patch update, tags and delete."""

from __future__ import annotations

import hashlib
import json
import time
import uuid
from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from slices_bi.devcloud.models import Image
from slices_bi.devcloud.web import (
    base_url,
    dc_of,
    glance_error,
    iso,
    page,
    parse_limit,
    query_values,
    read_json,
)

DEFAULT_LIMIT = 25
MAX_LIMIT = 1000
_CORE = {"id", "name", "status", "visibility", "min_disk", "min_ram", "tags", "protected"}
_CORE |= {"os_hidden", "disk_format", "container_format", "owner"}
_READ_ONLY = {"id", "status", "size", "virtual_size", "checksum", "created_at", "updated_at"}
_READ_ONLY |= {"os_hash_algo", "os_hash_value", "self", "file", "schema", "direct_url"}
_SORT_KEYS = {"name", "created_at", "updated_at", "id", "status", "size", "min_disk", "min_ram"}


def image_view(image: Image) -> dict[str, Any]:
    body: dict[str, Any] = dict(image.properties)
    body.update(
        id=image.id,
        name=image.name,
        status=image.status,
        visibility=image.visibility,
        protected=image.protected,
        os_hidden=image.os_hidden,
        owner=image.owner,
        min_disk=image.min_disk,
        min_ram=image.min_ram,
        tags=list(image.tags),
        disk_format=image.disk_format,
        container_format=image.container_format,
        size=image.size,
        virtual_size=image.virtual_size,
        checksum=image.checksum,
        os_hash_algo="sha512" if image.os_hash_value else None,
        os_hash_value=image.os_hash_value,
        created_at=iso(image.created_at),
        updated_at=iso(image.updated_at),
        self=f"/v2/images/{image.id}",
        file=f"/v2/images/{image.id}/file",
        schema="/v2/schemas/image",
    )
    return body


def _versions_body(request: Request) -> dict[str, Any]:
    href = f"{base_url(request)}/image/v2/"
    ids = ("v2.16", "v2.15", "v2.9", "v2.7", "v2.6", "v2.5", "v2.4", "v2.3", "v2.2", "v2.1", "v2.0")
    links = [{"rel": "self", "href": href}]
    status = ["CURRENT"] + ["SUPPORTED"] * (len(ids) - 1)
    return {
        "versions": [
            {"id": v, "status": s, "links": links} for v, s in zip(ids, status, strict=True)
        ]
    }


async def versions(request: Request) -> Response:
    return JSONResponse(_versions_body(request), status_code=300)


async def versions_list(request: Request) -> Response:
    return JSONResponse(_versions_body(request))


def _get(request: Request) -> Image:
    image_id = request.path_params["image_id"]
    image = dc_of(request).store.images.get(image_id)
    if image is None:
        raise glance_error(404, f"No image found with ID {image_id}")
    return image


def _sort_spec(request: Request) -> list[tuple[str, bool]]:
    """[(key, descending)]; Glance's default is created_at desc, then id."""
    spec: list[tuple[str, bool]] = []
    if request.query_params.get("sort"):
        for part in request.query_params["sort"].split(","):
            key, _, direction = part.strip().partition(":")
            spec.append((key, direction != "asc"))
    else:
        keys = query_values(request, "sort_key") or ["created_at"]
        dirs = query_values(request, "sort_dir")
        spec = [(k, (dirs[i] if i < len(dirs) else "desc") != "asc") for i, k in enumerate(keys)]
    for key, _ in spec:
        if key not in _SORT_KEYS:
            raise glance_error(400, f"Invalid sort key: {key}.")
    return spec


def _matches(image: Image, request: Request, visibility: str | None, tags: list[str]) -> bool:
    params = request.query_params
    if visibility is None:
        if image.visibility == "community" or image.os_hidden:
            return False
    elif visibility != "all" and image.visibility != visibility:
        return False
    for key in ("name", "status", "owner", "id", "disk_format", "container_format"):
        wanted = params.get(key)
        if wanted is not None:
            values = wanted[3:].split(",") if wanted.startswith("in:") else [wanted]
            if str(getattr(image, key)) not in values:
                return False
    if "os_hidden" in params and image.os_hidden != (params["os_hidden"].lower() == "true"):
        return False
    return all(tag in image.tags for tag in tags)


def _sort_key(key: str) -> Callable[[Image], tuple[bool, Any]]:
    def value(image: Image) -> tuple[bool, Any]:
        raw = getattr(image, key)
        return raw is None, raw

    return value


async def list_images(request: Request) -> Response:
    store = dc_of(request).store
    params = request.query_params
    limit = parse_limit(params.get("limit", str(DEFAULT_LIMIT)), glance_error, MAX_LIMIT)
    visibility = params.get("visibility")
    tags = params.getlist("tag")
    images = [i for i in store.images.values() if _matches(i, request, visibility, tags)]
    for key, descending in reversed(_sort_spec(request)):
        images.sort(key=_sort_key(key), reverse=descending)
    marker = params.get("marker")
    if marker and marker not in store.images:
        raise glance_error(400, f"Invalid marker. Image {marker} could not be found.")
    chunk = page(images, limit, marker, lambda i: i.id, lambda m: glance_error(400, m))
    body: dict[str, Any] = {
        "images": [image_view(i) for i in chunk],
        "first": "/v2/images",
        "schema": "/v2/schemas/images",
    }
    if chunk and len(chunk) == limit:
        query = [(k, v) for k, v in params.multi_items() if k not in ("marker", "limit")]
        query += [("marker", chunk[-1].id), ("limit", str(limit))]
        body["next"] = f"/v2/images?{urlencode(query)}"
    return JSONResponse(body)


async def get_image(request: Request) -> Response:
    return JSONResponse(image_view(_get(request)))


async def create_image(request: Request) -> Response:
    store = dc_of(request).store
    body = await read_json(request, glance_error)
    forbidden = sorted(set(body) & (_READ_ONLY - {"id"}))
    if forbidden:
        raise glance_error(403, f"Attribute '{forbidden[0]}' is read-only.")
    image_id = str(body.get("id") or uuid.uuid4())
    if image_id in store.images:
        raise glance_error(409, f"Image with identifier {image_id} already exists!")
    now = time.time()
    image = Image(
        id=image_id,
        name=str(body.get("name") or ""),
        status="queued",
        created_at=now,
        updated_at=now,
        disk_format=None,
        container_format=None,
        owner=store.identity.project_id,
    )
    _apply(image, body)
    store.images[image.id] = image
    headers = {"Location": f"{base_url(request)}/image/v2/images/{image.id}"}
    return JSONResponse(image_view(image), status_code=201, headers=headers)


def _apply(image: Image, changes: dict[str, Any]) -> None:
    for key, value in changes.items():
        if key == "id":
            continue
        if key in ("min_disk", "min_ram"):
            if not isinstance(value, int) or value < 0:
                raise glance_error(400, f"{key} must be a non-negative integer")
            setattr(image, key, value)
        elif key == "tags":
            if not isinstance(value, list):
                raise glance_error(400, "tags must be a list")
            image.tags = [str(t) for t in dict.fromkeys(value)]
        elif key == "visibility":
            if value not in ("public", "private", "shared", "community"):
                raise glance_error(400, f"Invalid visibility value: {value}")
            image.visibility = value
        elif key in _CORE:
            setattr(image, key, value)
        else:
            image.properties[key] = value


async def update_image(request: Request) -> Response:
    image = _get(request)
    raw = await request.body()
    try:
        ops = json.loads(raw or b"[]")
    except ValueError:
        raise glance_error(400, "Malformed JSON in request body.") from None
    if not isinstance(ops, list):
        raise glance_error(400, "Expected a JSON-patch list of operations.")
    for op in ops:
        path = str(op.get("path", "")).lstrip("/")
        if path in _READ_ONLY:
            raise glance_error(403, f"Attribute '{path}' is read-only.")
        if op.get("op") in ("add", "replace"):
            _apply(image, {path: op.get("value")})
        elif op.get("op") == "remove":
            if path not in image.properties:
                raise glance_error(409, f"Property {path} does not exist.")
            del image.properties[path]
        else:
            raise glance_error(400, f"Unsupported JSON-patch operation {op.get('op')!r}")
    image.updated_at = time.time()
    return JSONResponse(image_view(image))


async def upload(request: Request) -> Response:
    image = _get(request)
    if image.status not in ("queued", "saving"):
        raise glance_error(
            409, f"Image status transition from {image.status} to saving is not allowed"
        )
    md5, sha, size = hashlib.md5(usedforsecurity=False), hashlib.sha512(), 0
    async for chunk in request.stream():
        md5.update(chunk)
        sha.update(chunk)
        size += len(chunk)
    image.size = image.virtual_size = size
    image.checksum, image.os_hash_value = md5.hexdigest(), sha.hexdigest()
    image.status = "active"
    image.disk_format = image.disk_format or "raw"
    image.container_format = image.container_format or "bare"
    image.updated_at = time.time()
    return Response(status_code=204)


async def delete_image(request: Request) -> Response:
    image = _get(request)
    if image.protected:
        raise glance_error(403, f"Image {image.id} is protected and cannot be deleted.")
    del dc_of(request).store.images[image.id]
    return Response(status_code=204)


async def tag(request: Request) -> Response:
    image = _get(request)
    value = request.path_params["tag"]
    if request.method == "PUT":
        if value not in image.tags:
            image.tags.append(value)
    elif value in image.tags:
        image.tags.remove(value)
    else:
        raise glance_error(404, f"Tag {value} not found.")
    image.updated_at = time.time()
    return Response(status_code=204)


routes = [
    Route("/image", versions, methods=["GET"]),
    Route("/image/versions", versions_list, methods=["GET"]),
    Route("/image/v2/images", list_images, methods=["GET"]),
    Route("/image/v2/images", create_image, methods=["POST"]),
    Route("/image/v2/images/{image_id}", get_image, methods=["GET"]),
    Route("/image/v2/images/{image_id}", update_image, methods=["PATCH"]),
    Route("/image/v2/images/{image_id}", delete_image, methods=["DELETE"]),
    Route("/image/v2/images/{image_id}/file", upload, methods=["PUT"]),
    Route("/image/v2/images/{image_id}/tags/{tag}", tag, methods=["PUT", "DELETE"]),
]
