"""Keystone v3: version discovery, password/token auth, token validation, catalog."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from slices_bi.devcloud.runtime import Devcloud, Token
from slices_bi.devcloud.seed import stable_id
from slices_bi.devcloud.web import base_url, dc_of, iso, keystone_error, read_json

AUTH_FAILED = "The request you have made requires authentication."
_ROLES = ("admin", "member", "reader")
# (service type, service name, path under the base URL)
SERVICES = (
    ("identity", "keystone", "/identity"),
    ("compute", "nova", "/compute/v2.1"),
    ("image", "glance", "/image"),
    ("network", "neutron", "/network"),
)


def _v3_doc(base: str) -> dict[str, Any]:
    return {
        "id": "v3.14",
        "status": "stable",
        "updated": "2020-04-07T00:00:00Z",
        "links": [{"rel": "self", "href": f"{base}/identity/v3/"}],
        "media-types": [
            {"base": "application/json", "type": "application/vnd.openstack.identity-v3+json"}
        ],
    }


async def versions(request: Request) -> Response:
    body = {"versions": {"values": [_v3_doc(base_url(request))]}}
    return JSONResponse(body, status_code=300)


async def version_v3(request: Request) -> Response:
    return JSONResponse({"version": _v3_doc(base_url(request))})


def catalog(base: str, region: str) -> list[dict[str, Any]]:
    """The service catalog, every service on every interface at ``base``."""
    entries = []
    for service_type, name, path in SERVICES:
        endpoints = [
            {
                "id": stable_id("endpoint", f"{service_type}-{interface}").replace("-", ""),
                "interface": interface,
                "region": region,
                "region_id": region,
                "url": base + path,
            }
            for interface in ("public", "internal", "admin")
        ]
        entries.append(
            {
                "id": stable_id("service", service_type).replace("-", ""),
                "type": service_type,
                "name": name,
                "endpoints": endpoints,
            }
        )
    return entries


def _token_body(dc: Devcloud, token: Token, base: str) -> dict[str, Any]:
    ident = dc.identity
    domain = {"id": ident.domain_id, "name": ident.domain_name}
    body: dict[str, Any] = {
        "methods": token.methods,
        "user": {
            "id": ident.user_id,
            "name": ident.username,
            "domain": domain,
            "password_expires_at": None,
        },
        "audit_ids": [token.audit_id],
        "expires_at": iso(token.expires_at, micro=True),
        "issued_at": iso(token.issued_at, micro=True),
    }
    if token.project_id:
        body["project"] = {"id": ident.project_id, "name": ident.project_name, "domain": domain}
        body["is_domain"] = False
        body["roles"] = [{"id": stable_id("role", r).replace("-", ""), "name": r} for r in _ROLES]
        body["catalog"] = catalog(base, ident.region)
    return {"token": body}


def _domain_matches(dc: Devcloud, domain: Any) -> bool:
    if not isinstance(domain, dict):
        return False
    ident = dc.identity
    return domain.get("id") == ident.domain_id or domain.get("name") == ident.domain_name


def _check_password(dc: Devcloud, identity: dict[str, Any]) -> None:
    user = (identity.get("password") or {}).get("user") or {}
    ident = dc.identity
    by_id = user.get("id") == ident.user_id
    by_name = user.get("name") == ident.username and _domain_matches(dc, user.get("domain"))
    if not (by_id or by_name) or user.get("password") != ident.password:
        raise keystone_error(401, AUTH_FAILED)


def _scope_project(dc: Devcloud, scope: Any) -> str | None:
    if not scope:
        return None
    project = scope.get("project") if isinstance(scope, dict) else None
    if project is None:
        if isinstance(scope, dict) and ("domain" in scope or "system" in scope):
            return None
        raise keystone_error(400, "Invalid scope")
    ident = dc.identity
    if project.get("id") == ident.project_id:
        return ident.project_id
    if project.get("name") == ident.project_name and _domain_matches(dc, project.get("domain")):
        return ident.project_id
    raise keystone_error(401, AUTH_FAILED)


async def issue(request: Request) -> Response:
    dc = dc_of(request)
    body = await read_json(request, keystone_error)
    auth = body.get("auth")
    if not isinstance(auth, dict) or not isinstance(auth.get("identity"), dict):
        raise keystone_error(400, "Expecting to find auth.identity in request body.")
    identity = auth["identity"]
    methods = identity.get("methods") or []
    if "password" in methods:
        _check_password(dc, identity)
    elif "token" in methods:
        if dc.valid_token((identity.get("token") or {}).get("id")) is None:
            raise keystone_error(401, AUTH_FAILED)
    else:
        raise keystone_error(401, AUTH_FAILED)
    token = dc.issue_token(_scope_project(dc, auth.get("scope")), list(methods))
    headers = {"X-Subject-Token": token.id}
    return JSONResponse(_token_body(dc, token, base_url(request)), 201, headers=headers)


def _subject(request: Request) -> Token:
    dc = dc_of(request)
    if dc.valid_token(request.headers.get("x-auth-token")) is None:
        raise keystone_error(401, AUTH_FAILED)
    subject_id = request.headers.get("x-subject-token", "")
    token = dc.valid_token(subject_id)
    if token is None:
        raise keystone_error(404, f"Could not find token: {subject_id}.")
    return token


async def validate(request: Request) -> Response:
    token = _subject(request)
    headers = {"X-Subject-Token": token.id}
    if request.method == "HEAD":
        return Response(status_code=200, headers=headers)
    body = _token_body(dc_of(request), token, base_url(request))
    return JSONResponse(body, headers=headers)


async def revoke(request: Request) -> Response:
    token = _subject(request)
    dc_of(request).tokens.pop(token.id, None)
    return Response(status_code=204)


def _caller(request: Request) -> Token:
    token = dc_of(request).valid_token(request.headers.get("x-auth-token"))
    if token is None:
        raise keystone_error(401, AUTH_FAILED)
    return token


async def auth_catalog(request: Request) -> Response:
    _caller(request)
    dc = dc_of(request)
    return JSONResponse({"catalog": catalog(base_url(request), dc.identity.region)})


def _project(dc: Devcloud) -> dict[str, Any]:
    ident = dc.identity
    return {
        "id": ident.project_id,
        "name": ident.project_name,
        "domain_id": ident.domain_id,
        "enabled": True,
        "is_domain": False,
        "parent_id": ident.domain_id,
        "description": "devcloud project",
        "tags": [],
    }


async def auth_projects(request: Request) -> Response:
    _caller(request)
    return JSONResponse({"projects": [_project(dc_of(request))]})


async def get_project(request: Request) -> Response:
    _caller(request)
    dc = dc_of(request)
    wanted = request.path_params["project_id"]
    if wanted not in (dc.identity.project_id, dc.identity.project_name):
        raise keystone_error(404, f"Could not find project: {wanted}.")
    return JSONResponse({"project": _project(dc)})


routes = [
    Route("/identity", versions, methods=["GET"]),
    Route("/identity/v3", version_v3, methods=["GET"]),
    Route("/identity/v3/auth/tokens", issue, methods=["POST"]),
    Route("/identity/v3/auth/tokens", validate, methods=["GET", "HEAD"]),
    Route("/identity/v3/auth/tokens", revoke, methods=["DELETE"]),
    Route("/identity/v3/auth/catalog", auth_catalog, methods=["GET"]),
    Route("/identity/v3/auth/projects", auth_projects, methods=["GET"]),
    Route("/identity/v3/projects/{project_id}", get_project, methods=["GET"]),
]
