"""Assembly of the devcloud ASGI application."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute
from starlette.types import ASGIApp

from slices_bi.devcloud import (
    admin,
    compute,
    flavors,
    floating_ips,
    identity,
    images,
    keypairs,
    microversion,
    network,
    quotas,
    server_parts,
)
from slices_bi.devcloud.middleware import DevcloudMiddleware, service_of
from slices_bi.devcloud.runtime import Devcloud
from slices_bi.devcloud.web import ApiError, service_error


def all_routes() -> list[BaseRoute]:
    return [
        *identity.routes,
        *microversion.routes,
        *compute.routes,
        *server_parts.routes,
        *flavors.routes,
        *keypairs.routes,
        *images.routes,
        *network.routes,
        *floating_ips.routes,
        *quotas.routes,
        *admin.routes,
    ]


async def _api_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiError)
    return exc.response


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    service = service_of(request.url.path)
    if service is None:
        return JSONResponse({"error": exc.detail}, status_code=exc.status_code)
    if exc.status_code == 404:
        message = "The resource could not be found."
    else:
        message = f"The method {request.method} is not allowed for this resource."
    return service_error(service, exc.status_code, message)


def create_app(dc: Devcloud) -> ASGIApp:
    """The ASGI app serving ``dc``: all four services plus ``/devcloud``."""

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        yield
        dc.save()

    routes = all_routes()
    app = Starlette(
        routes=routes,
        exception_handlers={ApiError: _api_error, 404: _http_error, 405: _http_error},
        lifespan=lifespan,
    )
    app.state.devcloud = dc
    return DevcloudMiddleware(app, dc, routes)
