"""Every answer the cloud gives a connection, reported without touching openstacksdk: a
`requests` response hook on the connection's HTTP session (keystoneauth's).

Each answer counts in `slices_bi_cloud_calls_total{service, outcome}` and goes to
`slices_bi.observability.cloud_calls` with its `x-openstack-request-id`, so the flows log
it and the receipt keeps it. Bodies, query strings and headers other than the request id
are never looked at.
"""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import urlsplit

import requests
from openstack.connection import Connection

from slices_bi.observability import cloud_calls, counters

logger = logging.getLogger(__name__)

CLOUD_CALLS = "slices_bi_cloud_calls_total"
_INSTRUMENTED = "_slices_bi_call_hook"


def outcome_of(status: int) -> str:
    """ok (< 400), client_error (4xx) or server_error (5xx)."""
    if status < 400:
        return "ok"
    return "client_error" if status < 500 else "server_error"


class _Services:
    """Service types by endpoint URL, from the catalog of the connection's current token."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn
        self._ref: object = None
        self._prefixes: list[tuple[str, str]] = []

    def of(self, url: str) -> str:
        self._refresh()
        for prefix, service in self._prefixes:
            if url.startswith(prefix):
                return service
        return "identity" if "/auth/tokens" in url or url.rstrip("/").endswith("/v3") else "other"

    def _refresh(self) -> None:
        # The token's catalog is read as it is: never an authentication from inside the hook.
        ref = getattr(getattr(self._conn.session, "auth", None), "auth_ref", None)
        if ref is None or ref is self._ref:
            return
        prefixes: list[tuple[str, str]] = []
        try:
            for entry in ref.service_catalog.catalog or []:
                for endpoint in entry.get("endpoints", []):
                    url = str(endpoint.get("url") or "").rstrip("/")
                    if url:
                        prefixes.append((url, str(entry.get("type") or "other")))
        except Exception:  # a catalog we cannot read only costs the service label
            logger.debug("service catalog not readable", exc_info=True)
        self._prefixes = sorted(prefixes, key=lambda p: len(p[0]), reverse=True)
        self._ref = ref


def instrument(conn: Connection) -> Connection:
    """Report every answer `conn` receives (once per connection); returns `conn`."""
    http: requests.Session = conn.session.session
    if getattr(http, _INSTRUMENTED, False):
        return conn
    services = _Services(conn)

    def on_response(response: requests.Response, *args: Any, **kwargs: Any) -> None:
        try:
            _report(response, services)
        except Exception:  # observing must never break a cloud call
            logger.debug("cloud call not reported", exc_info=True)

    http.hooks.setdefault("response", []).append(on_response)
    setattr(http, _INSTRUMENTED, True)
    return conn


def _report(response: requests.Response, services: _Services) -> None:
    url = str(response.url or "")
    service = services.of(url)
    status = int(response.status_code)
    counters.inc(CLOUD_CALLS, {"service": service, "outcome": outcome_of(status)})
    request_id = response.headers.get("x-openstack-request-id") or response.headers.get(
        "x-compute-request-id"
    )
    cloud_calls.notify(
        cloud_calls.CloudCall(
            method=str(response.request.method or ""),
            service=service,
            path=urlsplit(url).path,
            status=status,
            request_id=request_id,
            seconds=response.elapsed.total_seconds(),
        )
    )
