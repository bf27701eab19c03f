"""The FastAPI application: routes under the upstream prefix, JSON errors, the sweep."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import Depends, FastAPI
from fastapi_offline import FastAPIOffline

from slices_bi import __version__
from slices_bi.api.correlation import RequestIds
from slices_bi.api.deps import known_query_only
from slices_bi.api.errors import install_error_handlers
from slices_bi.api.headers import SecurityHeaders
from slices_bi.api.limits import RequestLimits
from slices_bi.api.metrics import install_metrics
from slices_bi.api.routes import offerings, receipts, resources, tasks
from slices_bi.catalog.dry_run import Preflight
from slices_bi.catalog.models import API_PATH
from slices_bi.catalog.rules import NetworkChecker
from slices_bi.deployments.launcher import Launcher, get_launcher
from slices_bi.settings import get_settings

API_PREFIX = API_PATH
DOCS_ASSETS_URL = "/docs-assets"

DESCRIPTION = """
The SLICES Blueprint Infrastructure API of this OpenStack site.

Use **Authorize** with a SLICES token: a *user token* reads the catalog and your resources;
an *experiment token* requests, extends and deletes the experiment's VMs. Every request
and deletion answers with a task: follow it at `GET /tasks/{id}`.
"""


def create_app(
    *,
    launcher: Launcher | None = None,
    networks: NetworkChecker | None = None,
    preflight: Preflight | None = None,
    sweep: bool = False,
    bind_host: str | None = None,
) -> FastAPI:
    """The API. `launcher` starts flow runs (default: Prefect); `networks` checks network
    names at request time (default: none); `preflight` asks the cloud in dry runs (default:
    not asked); `sweep` runs the background sweep; `bind_host` is the address served on
    (default: `api_host`), which decides who may read /metrics."""
    settings = get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        sweeper = None
        if sweep:
            from slices_bi.deployments.sweep import Sweeper

            sweeper = Sweeper(app.state.launcher, settings.sweep_interval_seconds)
            sweeper.start()
        yield
        if sweeper is not None:
            sweeper.stop()

    # Swagger UI and ReDoc come from the API itself (assets bundled in fastapi-offline, no
    # web fonts): the pages must work on a site behind a firewall.
    app = FastAPIOffline(
        title="slices-bi",
        version=__version__,
        description=DESCRIPTION,
        openapi_url=f"{API_PREFIX}/openapi.json",
        docs_url="/docs",
        redoc_url="/redoc",
        static_url=DOCS_ASSETS_URL,
        lifespan=lifespan,
        # A body without Content-Type is read as JSON; another type is a 415 (limits.py).
        strict_content_type=False,
        dependencies=[Depends(known_query_only)],
    )
    app.state.launcher = launcher or get_launcher()
    app.state.networks = networks
    app.state.preflight = preflight
    install_error_handlers(app)

    install_metrics(app, settings, bind_host or settings.api_host)
    # The last one added runs first: the headers go on every answer, refusals included.
    app.add_middleware(RequestLimits)
    app.add_middleware(SecurityHeaders)
    app.add_middleware(RequestIds)

    routers = (offerings.images, offerings.flavors, resources.router, receipts.router, tasks.router)
    for router in routers:
        app.include_router(router, prefix=API_PREFIX)

    @app.get("/healthz", include_in_schema=False)
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    return app
