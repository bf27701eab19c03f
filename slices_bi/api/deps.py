"""FastAPI dependencies, as `Annotated` aliases the routes take as parameters."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Request
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlmodel import Session

from slices_bi.auth import (
    ExperimentIdentity,
    Identity,
    TokenError,
    TokenVerifier,
    get_token_verifier,
    is_admin,
)
from slices_bi.catalog.db import request_session
from slices_bi.catalog.dry_run import Preflight
from slices_bi.catalog.errors import Forbidden, Invalid
from slices_bi.catalog.rules import NetworkChecker
from slices_bi.deployments.launcher import Launcher
from slices_bi.settings import Settings, get_settings

bearer = HTTPBearer(
    auto_error=False,
    scheme_name="SLICES token",
    description="A SLICES user token (`slices auth id-token <BI URL>`) or experiment token "
    "(`slices experiment jwt <experiment>`); locally `slices-bi token user|experiment`.",
)


def _session() -> Iterator[Session]:
    with request_session() as session:
        yield session


def _identity(
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
    verifier: Annotated[TokenVerifier, Depends(get_token_verifier)],
) -> Identity:
    if credentials is None or not credentials.credentials:
        raise TokenError("token_missing", "send a SLICES token as 'Authorization: Bearer <jwt>'")
    return verifier.verify(credentials.credentials)


def _experiment(identity: Annotated[Identity, Depends(_identity)]) -> ExperimentIdentity:
    if not isinstance(identity, ExperimentIdentity):
        raise TokenError(
            "experiment_token_required",
            "this operation needs an experiment token (`slices experiment jwt <experiment>`); "
            "a user token only allows reads",
            status_code=403,
        )
    return identity


def _admin(
    identity: Annotated[Identity, Depends(_identity)],
    settings: Annotated[Settings, Depends(get_settings)],
) -> Identity:
    if not is_admin(identity, settings):
        raise Forbidden(
            "only the site's administrators may change the catalog", code="admin_required"
        )
    return identity


def known_query_only(request: Request) -> None:
    """Refuse query parameters the route does not take (a typo is never silently ignored)."""
    route = request.scope.get("route")
    if not isinstance(route, APIRoute) or not request.query_params:
        return
    known = _query_names.get(route.unique_id)
    if known is None:
        known = _query_names[route.unique_id] = frozenset(_query_params_of(route.dependant))
    unknown = sorted(set(request.query_params) - known)
    if unknown:
        allowed = ", ".join(sorted(known)) or "none"
        raise Invalid(
            f"unknown query parameter(s): {', '.join(unknown)[:200]} (allowed: {allowed})",
            code="unknown_query_parameter",
        )


_query_names: dict[str, frozenset[str]] = {}


def _query_params_of(dependant: Dependant) -> set[str]:
    names = {param.alias for param in dependant.query_params}
    for sub in dependant.dependencies:
        names |= _query_params_of(sub)
    return names


def _launcher(request: Request) -> Launcher:
    launcher: Launcher = request.app.state.launcher
    return launcher


def _networks(request: Request) -> NetworkChecker | None:
    checker: NetworkChecker | None = request.app.state.networks
    return checker


def _preflight(request: Request) -> Preflight | None:
    checker: Preflight | None = request.app.state.preflight
    return checker


# Closed as soon as the route returns, before the answer is serialized and sent: a route
# never keeps a pooled connection while it waits for a worker thread (under load, that
# wait could outlast the pool's and answer 500).
SessionDep = Annotated[Session, Depends(_session, scope="function")]
SettingsDep = Annotated[Settings, Depends(get_settings)]
VerifierDep = Annotated[TokenVerifier, Depends(get_token_verifier)]
IdentityDep = Annotated[Identity, Depends(_identity)]
ExperimentDep = Annotated[ExperimentIdentity, Depends(_experiment)]
AdminDep = Annotated[Identity, Depends(_admin)]
LauncherDep = Annotated[Launcher, Depends(_launcher)]
NetworksDep = Annotated[NetworkChecker | None, Depends(_networks)]
PreflightDep = Annotated[Preflight | None, Depends(_preflight)]
