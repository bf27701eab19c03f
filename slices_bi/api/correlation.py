"""The request id of every API answer (a pure ASGI middleware).

`X-Request-ID` is taken from the client when it is sane (1-128 characters of
`A-Za-z0-9._:+/=@-`), else made up; it is bound for the request (every log line carries
it, a task made by the request stores it), sent back on the answer, and ends the request
with one log line (method, route, status, time).
"""

from __future__ import annotations

import logging
import time

from slices_bi.api.limits import ASGIApp, Message, Receive, Scope, Send
from slices_bi.observability.context import new_request_id, request_id_bound, sane_request_id

HEADER = b"x-request-id"
logger = logging.getLogger("slices_bi.api.access")


def _client_request_id(scope: Scope) -> str | None:
    for name, value in scope.get("headers", []):
        if name.lower() == HEADER:
            return sane_request_id(value.decode("latin-1"))
    return None


class RequestIds:
    """Binds, returns and logs the request id of every HTTP request to `app`."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = _client_request_id(scope) or new_request_id()
        started = time.perf_counter()
        status = 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
                kept = [(n, v) for n, v in message.get("headers", []) if n.lower() != HEADER]
                message["headers"] = [*kept, (HEADER, request_id.encode())]
            await send(message)

        with request_id_bound(request_id):
            try:
                await self.app(scope, receive, send_with_id)
            finally:
                logger.info(
                    "%s %s -> %s in %.1f ms",
                    scope["method"],
                    scope["path"],
                    status,
                    (time.perf_counter() - started) * 1000,
                )
