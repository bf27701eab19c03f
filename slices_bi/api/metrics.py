"""`GET /metrics`: Prometheus text, from prometheus_client and
prometheus-fastapi-instrumentator (HTTP requests by route, method and status, with latency
histograms) plus `CatalogCollector` (what the flows counted, read from the catalog).

Who may read it (`SLICES_BI_METRICS_AUTH`): "open"; "token": an admin SLICES token or the
static `SLICES_BI_METRICS_TOKEN`; "auto" (default): open when the API listens on a loopback
address and the request did not come through a proxy (no `X-Forwarded-For`/`Forwarded`),
else as "token".
"""

from __future__ import annotations

import hmac
import ipaddress
from typing import Annotated

from fastapi import Depends, FastAPI, Request, Response
from fastapi.security import HTTPAuthorizationCredentials
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_fastapi_instrumentator import Instrumentator

from slices_bi.api.deps import bearer
from slices_bi.api.metrics_collector import CatalogCollector
from slices_bi.auth import TokenError, get_token_verifier, is_admin
from slices_bi.catalog.errors import Forbidden
from slices_bi.settings import Settings

METRICS_PATH = "/metrics"
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
_PROXY_HEADERS = ("x-forwarded-for", "forwarded", "x-real-ip")


def is_loopback(host: str) -> bool:
    """True for a loopback address or `localhost`."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def install_metrics(app: FastAPI, settings: Settings, bind_host: str) -> CollectorRegistry:
    """Instrument `app` and serve `/metrics` from a registry of its own (returned)."""
    registry = CollectorRegistry(auto_describe=False)
    Instrumentator(
        should_group_status_codes=False,
        excluded_handlers=[METRICS_PATH],
        registry=registry,
    ).instrument(app, metric_namespace="slices_bi", latency_lowr_buckets=LATENCY_BUCKETS)
    registry.register(CatalogCollector(settings))
    open_on_loopback = settings.metrics_auth == "open" or (
        settings.metrics_auth == "auto" and is_loopback(bind_host)
    )

    def allowed(
        request: Request,
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
    ) -> None:
        proxied = any(request.headers.get(name) for name in _PROXY_HEADERS)
        if open_on_loopback and (settings.metrics_auth == "open" or not proxied):
            return
        token = credentials.credentials if credentials is not None else ""
        if not token:
            raise TokenError(
                "token_missing", "/metrics needs 'Authorization: Bearer <metrics or admin token>'"
            )
        static = settings.metrics_token
        if static is not None and hmac.compare_digest(
            token.encode(), static.get_secret_value().encode()
        ):
            return
        if not is_admin(get_token_verifier().verify(token), settings):
            raise Forbidden(
                "only the site's administrators may read /metrics", code="admin_required"
            )

    @app.get(METRICS_PATH, include_in_schema=False, dependencies=[Depends(allowed)])
    def metrics() -> Response:
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    return registry
