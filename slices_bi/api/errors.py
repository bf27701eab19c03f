"""Every error leaves the API as JSON `{"error": code, "detail": text}` with a 4xx status."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy.exc import DataError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response
from starlette.routing import Match

from slices_bi.auth.errors import TokenError
from slices_bi.catalog.errors import CatalogError

logger = logging.getLogger(__name__)

# What a client waits before trying again when the database stays busy.
RETRY_AFTER_SECONDS = 2


class ErrorBody(BaseModel):
    """The body of every error answer."""

    error: str
    detail: str


def documented(**descriptions: str) -> dict[int | str, dict[str, object]]:
    """OpenAPI `responses` for the given statuses (`_401="..."`), all with `ErrorBody`."""
    return {
        int(status.lstrip("_")): {"model": ErrorBody, "description": text}
        for status, text in descriptions.items()
    }


# Every operation may answer these; FastAPI's own 422 model is never used.
COMMON_ERRORS = documented(
    _401="Missing, invalid or expired token",
    _422="Invalid parameters or body",
    _503="The database is busy or the token keys cannot be fetched: try again (Retry-After)",
)
# Operations with a JSON body may also answer these.
BODY_ERRORS = documented(
    _400="The body is not valid JSON",
    _413="The body is larger than 2 MiB",
    _415="The body is sent with a Content-Type other than JSON",
)


def error_response(
    status: int, code: str, detail: str, headers: dict[str, str] | None = None
) -> JSONResponse:
    """The JSON error body every failure uses."""
    return JSONResponse({"error": code, "detail": detail}, status_code=status, headers=headers)


def _location(loc: tuple[int | str, ...]) -> str:
    parts = [str(p) for p in loc if p not in ("body", "query", "path", "header")]
    text = ""
    for part in parts:
        text += f"[{part}]" if part.isdigit() else (f".{part}" if text else part)
    return text or "body"


async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
    errors = exc.errors()
    if any(e.get("type") == "json_invalid" for e in errors):
        first = next(e for e in errors if e.get("type") == "json_invalid")
        return error_response(
            400, "invalid_json", f"the body is not valid JSON: {first.get('msg')}"
        )
    details = "; ".join(f"{_location(tuple(e['loc']))}: {e['msg']}" for e in errors[:10])
    return error_response(422, "validation_error", details)


async def _catalog(_: Request, exc: CatalogError) -> JSONResponse:
    return error_response(exc.status_code, exc.code, exc.detail)


async def _token(_: Request, exc: TokenError) -> JSONResponse:
    return error_response(exc.status_code, exc.code, exc.detail, exc.headers)


_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE")


def _allowed_methods(request: Request) -> str:
    """Every method some route of the app answers on this path (the router's own 405
    names only the first route's)."""
    methods = {"OPTIONS"}
    for method in _METHODS:
        probe = {**request.scope, "method": method}
        if any(route.matches(probe)[0] == Match.FULL for route in request.app.router.routes):
            methods.add(method)
    return ", ".join(sorted(methods))


async def _http(request: Request, exc: StarletteHTTPException) -> Response:
    if exc.status_code == 405:
        allow = _allowed_methods(request)
        if request.method == "OPTIONS":
            return Response(status_code=204, headers={"Allow": allow})
        return error_response(
            405, "method_not_allowed", f"allowed methods: {allow}", {"Allow": allow}
        )
    codes = {404: "not_found", 401: "unauthorized", 403: "forbidden"}
    code = codes.get(exc.status_code, "http_error")
    return error_response(exc.status_code, code, str(exc.detail), getattr(exc, "headers", None))


async def _database_busy(_: Request, exc: Exception) -> JSONResponse:
    # A lock or a pooled connection not had within the database lock timeout, or the
    # database out of reach: nothing was changed, the client may simply try again.
    logger.warning("database busy or unreachable: %s", type(exc).__name__)
    return error_response(
        503,
        "database_busy",
        "the catalog database is busy or unreachable; nothing was changed, try again",
        {"Retry-After": str(RETRY_AFTER_SECONDS)},
    )


async def _data(_: Request, exc: DataError) -> JSONResponse:
    # The database refused a value the schema let through (a NUL character on PostgreSQL).
    return error_response(
        422, "invalid_value", "a value is not acceptable (for instance it holds a NUL character)"
    )


async def _unexpected(_: Request, exc: Exception) -> JSONResponse:
    logger.error("unexpected error", exc_info=exc)
    return error_response(500, "internal_error", "an unexpected error occurred; it has been logged")


def install_error_handlers(app: FastAPI) -> None:
    """Route every exception type to its JSON rendering."""
    app.add_exception_handler(RequestValidationError, _validation)  # type: ignore[arg-type]
    app.add_exception_handler(CatalogError, _catalog)  # type: ignore[arg-type]
    app.add_exception_handler(TokenError, _token)  # type: ignore[arg-type]
    app.add_exception_handler(StarletteHTTPException, _http)  # type: ignore[arg-type]
    app.add_exception_handler(DataError, _data)  # type: ignore[arg-type]
    app.add_exception_handler(OperationalError, _database_busy)
    app.add_exception_handler(PoolTimeoutError, _database_busy)
    app.add_exception_handler(Exception, _unexpected)
