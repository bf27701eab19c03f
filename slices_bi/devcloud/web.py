"""HTTP helpers shared by the service modules: errors shaped per service,
JSON bodies, timestamps, paging."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from typing import Any, TypeVar
from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from slices_bi.devcloud.runtime import Devcloud

T = TypeVar("T")

_NOVA_ERROR_KEYS = {
    400: "badRequest",
    401: "unauthorized",
    403: "forbidden",
    404: "itemNotFound",
    405: "badMethod",
    409: "conflictingRequest",
    413: "overLimit",
    415: "badMediaType",
    429: "overLimit",
    501: "notImplemented",
    503: "serviceUnavailable",
}
_TITLES = {
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    406: "Not Acceptable",
    409: "Conflict",
    413: "Request Entity Too Large",
    429: "Too Many Requests",
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Timeout",
}


class ApiError(Exception):
    """An error answer; raise it from a handler, the app turns it into a response."""

    def __init__(self, response: Response) -> None:
        super().__init__(response.status_code)
        self.response = response


def title(status: int) -> str:
    return _TITLES.get(status, "Error")


def nova_error(status: int, message: str) -> ApiError:
    key = _NOVA_ERROR_KEYS.get(status, "computeFault")
    return ApiError(JSONResponse({key: {"code": status, "message": message}}, status))


def neutron_error(status: int, kind: str, message: str) -> ApiError:
    body = {"NeutronError": {"type": kind, "message": message, "detail": ""}}
    return ApiError(JSONResponse(body, status))


def glance_error(status: int, message: str) -> ApiError:
    # Glance answers errors as text, e.g. "404 Not Found\n\nNo image found with ID x\n\n   ".
    text = f"{status} {title(status)}\n\n{message}\n\n   "
    return ApiError(Response(text, status, media_type="text/plain"))


def keystone_error(status: int, message: str) -> ApiError:
    body = {"error": {"code": status, "title": title(status), "message": message}}
    return ApiError(JSONResponse(body, status))


SERVICE_ERRORS: dict[str, Callable[[int, str], ApiError]] = {
    "compute": nova_error,
    "image": glance_error,
    "network": lambda status, msg: neutron_error(status, title(status).replace(" ", ""), msg),
    "identity": keystone_error,
}


def service_error(service: str, status: int, message: str) -> Response:
    """An error response shaped like the given service's errors."""
    return SERVICE_ERRORS.get(service, keystone_error)(status, message).response


def dc_of(request: Request) -> Devcloud:
    dc: Devcloud = request.app.state.devcloud
    return dc


def base_url(request: Request) -> str:
    """Public base URL ("http://host:port") as the client addressed us."""
    configured = dc_of(request).config.public_url
    if configured:
        return configured
    return f"{request.url.scheme}://{request.headers.get('host', request.url.netloc)}"


def iso(ts: float | None, micro: bool = False) -> str | None:
    """Format an epoch timestamp the OpenStack way ("2024-01-02T03:04:05Z")."""
    if ts is None:
        return None
    text = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ts))
    if micro:
        text += f".{int((ts % 1) * 1e6):06d}"
    return text + "Z"


async def read_json(request: Request, error: Callable[[int, str], ApiError]) -> dict[str, Any]:
    """The request body as a JSON object, or the service's 400 error."""
    raw = await request.body()
    try:
        body = json.loads(raw or b"null")
    except ValueError as exc:
        raise error(400, f"Malformed request body: {exc}") from None
    if not isinstance(body, dict):
        raise error(400, "Malformed request body: expected a JSON object")
    return body


def query_values(request: Request, name: str) -> list[str]:
    """All values of a query parameter, given repeated and/or comma separated."""
    out: list[str] = []
    for raw in request.query_params.getlist(name):
        out.extend(part for part in raw.split(",") if part)
    return out


def parse_limit(raw: str | None, error: Callable[[int, str], ApiError], maximum: int) -> int:
    if raw is None or raw == "":
        return maximum
    try:
        limit = int(raw)
    except ValueError:
        raise error(400, f"limit param must be an integer, got {raw!r}") from None
    if limit < 0:
        raise error(400, "limit param must be positive")
    return min(limit, maximum)


def page(
    items: Sequence[T],
    limit: int,
    marker: str | None,
    key: Callable[[T], str],
    on_bad_marker: Callable[[str], ApiError],
) -> list[T]:
    """The ``limit`` items after the one whose key is ``marker``."""
    start = 0
    if marker:
        for index, item in enumerate(items):
            if key(item) == marker:
                start = index + 1
                break
        else:
            raise on_bad_marker(marker)
    return list(items[start : start + limit])


def next_href(request: Request, path: str, marker: str, limit: int) -> str:
    """Absolute link to the next page, keeping the other query parameters."""
    params = [(k, v) for k, v in request.query_params.multi_items() if k not in ("marker", "limit")]
    params += [("limit", str(limit)), ("marker", marker)]
    query = "&".join(f"{_q(k)}={_q(v)}" for k, v in params)
    return f"{base_url(request)}{path}?{query}"


def nova_links(
    request: Request, collection: str, path: str, chunk: Sequence[Any], limit: int
) -> dict[str, Any]:
    """Nova's `<collection>_links` entry when `chunk` filled a page; else nothing."""
    if not chunk or len(chunk) < limit:
        return {}
    href = next_href(request, path, chunk[-1].id, limit)
    return {f"{collection}_links": [{"rel": "next", "href": href}]}


def _q(text: str) -> str:
    return quote(text, safe="")
