"""The ASGI layer in front of every OpenStack API call: trailing-slash
normalisation, request ids, call counters, lazy state transitions, fault injection
(latency, errors, connection resets), token checks and persistence triggers."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Sequence

from starlette.routing import BaseRoute, Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from slices_bi.devcloud.faults import Action
from slices_bi.devcloud.runtime import Devcloud
from slices_bi.devcloud.web import service_error

SERVICE_PREFIXES = (
    ("/identity", "identity"),
    ("/compute", "compute"),
    ("/image", "image"),
    ("/network", "network"),
)
# Version documents are served without a token, as the real services do.
_PUBLIC_PATHS = {"/compute", "/compute/v2.1", "/image", "/image/versions", "/network"}
_READ_METHODS = {"GET", "HEAD", "OPTIONS"}


def service_of(path: str) -> str | None:
    """The OpenStack service a path belongs to (None for admin/unknown paths)."""
    for prefix, service in SERVICE_PREFIXES:
        if path == prefix or path.startswith(prefix + "/"):
            return service
    return None


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope["headers"]:
        if key.lower() == name:
            return str(value.decode("latin-1"))
    return None


async def drop_connection(send: Send) -> None:
    """Close the client connection without any answer.

    ASGI has no "reset" message; uvicorn's ``send`` is a bound method of its
    request cycle, which holds the transport. Aborting it makes clients see
    "connection closed without response" (requests raises ConnectionError).
    """
    transport = getattr(getattr(send, "__self__", None), "transport", None)
    if transport is not None and hasattr(transport, "abort"):
        transport.abort()
        await asyncio.sleep(0)  # let connection_lost() run so uvicorn sends no 500
        return
    # Other servers: promise a body that never comes, then fail the request.
    headers = [(b"content-length", b"1048576"), (b"content-type", b"application/json")]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    raise ConnectionAbortedError("devcloud: injected connection reset")


def with_request_id(send: Send, service: str, request_id_text: str | None = None) -> Send:
    """``send`` adding ``x-openstack-request-id: req-<uuid>`` (or `request_id_text`) to the
    answer, as every OpenStack service does (Nova also names it ``x-compute-request-id``)."""
    request_id = (request_id_text or f"req-{uuid.uuid4()}").encode()
    names = [b"x-openstack-request-id"]
    if service == "compute":
        names.append(b"x-compute-request-id")

    async def send_with_id(message: Message) -> None:
        if message["type"] == "http.response.start":
            headers = [(k, v) for k, v in message.get("headers", []) if k.lower() not in names]
            headers += [(name, request_id) for name in names]
            message = {**message, "headers": headers}
        await send(message)

    return send_with_id


class DevcloudMiddleware:
    """Wraps the Starlette app; ``routes`` are only used to name counters."""

    def __init__(self, app: ASGIApp, dc: Devcloud, routes: Sequence[BaseRoute]) -> None:
        self.app = app
        self.dc = dc
        self.routes = routes

    def template(self, scope: Scope) -> str:
        """The route template of a request path (the raw path if none matches)."""
        partial = None
        for route in self.routes:
            match, _ = route.matches(scope)
            if match is Match.FULL:
                return str(getattr(route, "path", scope["path"]))
            if match is Match.PARTIAL and partial is None:
                partial = str(getattr(route, "path", scope["path"]))
        return partial or scope["path"]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = scope["path"]
        if len(path) > 1 and path.endswith("/"):
            path = path.rstrip("/") or "/"
            scope = {**scope, "path": path, "raw_path": path.encode()}
        service = service_of(path)
        if service is None:
            await self.app(scope, receive, send)
            return
        dc = self.dc
        method = scope["method"]
        request_id = f"req-{uuid.uuid4()}"
        raw_send, send = send, with_request_id(send, service, request_id)
        dc.tick()
        call = f"{method} {self.template(scope)}"
        dc.counters[call] += 1
        dc.request_ids.append({"call": call, "request_id": request_id})
        delay = dc.faults.latency.get(service, 0.0)
        if delay > 0:
            await asyncio.sleep(delay)
        action = dc.faults.decide(service, f"{method} {path}")
        if action is Action.RESET:
            await drop_connection(raw_send)  # needs uvicorn's own send
            return
        if action is Action.ERROR:
            status = dc.faults.error_status
            response = service_error(service, status, f"devcloud injected a {status} fault")
            await response(scope, receive, send)
            return
        if service != "identity" and path not in _PUBLIC_PATHS:
            if dc.valid_token(_header(scope, b"x-auth-token")) is None:
                message = "The request you have made requires authentication."
                await service_error("identity", 401, message)(scope, receive, send)
                return
        await self.app(scope, receive, send)
        if method not in _READ_METHODS:
            dc.changed()
