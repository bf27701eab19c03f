"""Bounded input on every request, before any route sees it (a pure ASGI middleware).

- The body is counted as it arrives, whatever `Content-Length` or `Transfer-Encoding`
  say, and the request is refused with 413 once it passes the limit: nothing past the
  limit is read, buffered or parsed.
- The request head (method, path, headers) is bounded too: 431 past the limit (the
  server refuses far larger heads before they reach the app, see `serve.py`).
- A body sent with a Content-Type other than JSON is refused with 415 naming the header;
  a body without Content-Type is read as JSON.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

# Twenty VMs with cloud-init at Nova's limit fit well below this.
MAX_BODY_BYTES = 2 * 1024 * 1024
# A 16 KiB token in Authorization plus ordinary headers fit well below this.
MAX_HEAD_BYTES = 32 * 1024
_BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})


def _is_json(content_type: str) -> bool:
    media = content_type.split(";", 1)[0].strip().lower()
    return media == "application/json" or (
        media.startswith("application/") and media.endswith("+json")
    )


async def _refuse(send: Send, status: int, code: str, detail: str) -> None:
    body = json.dumps({"error": code, "detail": detail}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


class RequestLimits:
    """Refuses requests whose head or body is too large, or whose body is not JSON."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        max_body_bytes: int = MAX_BODY_BYTES,
        max_head_bytes: int = MAX_HEAD_BYTES,
    ) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.max_head_bytes = max_head_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        head = len(scope.get("raw_path") or b"") + len(scope.get("query_string") or b"")
        head += sum(len(name) + len(value) + 4 for name, value in scope["headers"])
        if head > self.max_head_bytes:
            await _refuse(
                send,
                431,
                "headers_too_large",
                f"the request line and headers must be at most {self.max_head_bytes} bytes",
            )
            return
        headers = {name.lower(): value for name, value in scope["headers"]}
        declared = headers.get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.max_body_bytes):
            await self._too_large(send)
            return
        body = bytearray()
        more = True
        while more:
            message = await receive()
            if message["type"] != "http.request":  # the client went away
                return
            body += message.get("body", b"")
            if len(body) > self.max_body_bytes:
                await self._too_large(send)
                return
            more = message.get("more_body", False)
        content_type = headers.get(b"content-type")
        if body and scope["method"] in _BODY_METHODS and content_type is not None:
            if not _is_json(content_type.decode("latin-1")):
                await _refuse(
                    send,
                    415,
                    "unsupported_media_type",
                    "send the body as JSON with the header 'Content-Type: application/json'",
                )
                return
        await self.app(scope, _replay(bytes(body), receive), send)

    async def _too_large(self, send: Send) -> None:
        await _refuse(
            send, 413, "body_too_large", f"the body must be at most {self.max_body_bytes} bytes"
        )


def _replay(body: bytes, receive: Receive) -> Receive:
    """A receive channel that gives the whole body once, then the client's own events."""
    given = False

    async def replay() -> Message:
        nonlocal given
        if given:
            return await receive()
        given = True
        return {"type": "http.request", "body": body, "more_body": False}

    return replay
