"""Nova microversions: version documents, header negotiation, and the decorator
that gives compute handlers their negotiated version and echoes it back."""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from slices_bi.devcloud.web import ApiError, base_url, nova_error

Version = tuple[int, int]
MIN_VERSION: Version = (2, 1)
MAX_VERSION: Version = (2, 100)
_HEADER = "OpenStack-API-Version"
_LEGACY_HEADER = "X-OpenStack-Nova-API-Version"

ComputeHandler = Callable[[Request, Version], Awaitable[Response]]


def fmt(version: Version) -> str:
    return f"{version[0]}.{version[1]}"


def _parse(text: str) -> Version:
    text = text.strip()
    if text.lower() == "latest":
        return MAX_VERSION
    major, dot, minor = text.partition(".")
    if not dot or not major.isdigit() or not minor.isdigit():
        raise nova_error(
            400,
            f"API Version String {text} is of invalid format. Must be of format MajorNum.MinorNum.",
        )
    return int(major), int(minor)


def negotiate(headers: Headers) -> Version:
    """The requested microversion (2.1 if none); 406 outside the supported range."""
    requested: str | None = None
    for part in headers.get(_HEADER, "").split(","):
        service, _, value = part.strip().partition(" ")
        if service.lower() == "compute" and value:
            requested = value
    if requested is None:
        requested = headers.get(_LEGACY_HEADER)
    if not requested:
        return MIN_VERSION
    version = _parse(requested)
    if not MIN_VERSION <= version <= MAX_VERSION:
        raise nova_error(
            406,
            f"Version {fmt(version)} is not supported by the API. "
            f"Minimum is {fmt(MIN_VERSION)} and maximum is {fmt(MAX_VERSION)}.",
        )
    return version


def _echo(response: Response, version: Version) -> Response:
    response.headers[_HEADER] = f"compute {fmt(version)}"
    response.headers[_LEGACY_HEADER] = fmt(version)
    response.headers["Vary"] = f"{_HEADER}, {_LEGACY_HEADER}"
    return response


def compute_api(handler: ComputeHandler) -> Callable[[Request], Awaitable[Response]]:
    """Wrap a ``handler(request, version)`` into a Starlette endpoint."""

    @functools.wraps(handler)
    async def endpoint(request: Request) -> Response:
        try:
            version = negotiate(request.headers)
        except ApiError as exc:
            return exc.response
        try:
            response = await handler(request, version)
        except ApiError as exc:
            response = exc.response
        return _echo(response, version)

    return endpoint


def at_least(version: Version, major: int, minor: int) -> bool:
    return version >= (major, minor)


def _v21_doc(request: Request) -> dict[str, Any]:
    return {
        "id": "v2.1",
        "status": "CURRENT",
        "version": fmt(MAX_VERSION),
        "min_version": fmt(MIN_VERSION),
        "updated": "2013-07-23T11:33:21Z",
        "links": [{"rel": "self", "href": f"{base_url(request)}/compute/v2.1/"}],
        "media-types": [
            {
                "base": "application/json",
                "type": "application/vnd.openstack.compute+json;version=2.1",
            }
        ],
    }


async def versions(request: Request) -> Response:
    return JSONResponse({"versions": [_v21_doc(request)]})


async def version_v21(request: Request) -> Response:
    return JSONResponse({"version": _v21_doc(request)})


routes = [
    Route("/compute", versions, methods=["GET"]),
    Route("/compute/v2.1", version_v21, methods=["GET"]),
]
