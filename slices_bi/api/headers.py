"""Security headers on every answer (a pure ASGI middleware).

JSON answers get a content security policy that allows nothing; the documentation pages
(/docs, /redoc) get one that allows their scripts, styles and images from this site only
(the API serves their assets), and the inline script that starts them: nothing on those
pages reaches another host (ReDoc's decorative credit logo is blocked). Every answer may
carry a token's data, so none is stored by caches. No `Server` header leaves the API.
"""

from __future__ import annotations

from slices_bi.api.limits import ASGIApp, Message, Receive, Scope, Send

JSON_CSP = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
DOCS_CSP = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self' 'unsafe-inline'",
        "style-src 'self' 'unsafe-inline'",
        "font-src 'self' data:",
        "img-src 'self' data:",
        "connect-src 'self'",
        "worker-src 'self' blob:",
        "frame-ancestors 'none'",
        "base-uri 'self'",
        "form-action 'self'",
    ]
)
DOCS_PATHS = ("/docs", "/redoc")

_COMMON = [
    (b"x-content-type-options", b"nosniff"),
    (b"cache-control", b"no-store"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
]
_REPLACED = {name for name, _ in _COMMON} | {b"content-security-policy", b"server"}


def is_docs_path(path: str) -> bool:
    """True for the documentation pages (and their OAuth redirect page)."""
    return any(path == p or path.startswith(p + "/") for p in DOCS_PATHS)


class SecurityHeaders:
    """Adds the headers above to every HTTP answer of `app`."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        csp = DOCS_CSP if is_docs_path(scope["path"]) else JSON_CSP
        added = [*_COMMON, (b"content-security-policy", csp.encode())]

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                kept = [(n, v) for n, v in message.get("headers", []) if n.lower() not in _REPLACED]
                message["headers"] = [*kept, *added]
            await send(message)

        await self.app(scope, receive, send_with_headers)
