"""Nova keypairs: create (import or generate), list (2.35 paging), show, delete."""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
import time
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from slices_bi.devcloud.microversion import Version, at_least, compute_api
from slices_bi.devcloud.models import Keypair
from slices_bi.devcloud.store import keypair_key
from slices_bi.devcloud.web import dc_of, next_href, nova_error, page, parse_limit, read_json

_KEYPAIR_NAME = re.compile(r"^[a-zA-Z0-9 _.@-]{1,255}$")


def fingerprint(public_key: str) -> str:
    """Nova's MD5 fingerprint of an OpenSSH public key; ValueError if invalid."""
    parts = public_key.strip().split()
    if len(parts) < 2 or not parts[0].startswith(("ssh-", "ecdsa-")):
        raise ValueError("not an OpenSSH public key")
    try:
        blob = base64.b64decode(parts[1], validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ValueError("invalid key data") from exc
    digest = hashlib.md5(blob, usedforsecurity=False).hexdigest()
    return ":".join(digest[i : i + 2] for i in range(0, len(digest), 2))


def _generate() -> tuple[str, str]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    ).decode()
    public = (
        key.public_key()
        .public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
        .decode()
    )
    return private, public + " Generated-by-Nova"


def _keypair_view(kp: Keypair, version: Version, full: bool) -> dict[str, Any]:
    body: dict[str, Any] = {
        "name": kp.name,
        "public_key": kp.public_key,
        "fingerprint": kp.fingerprint,
    }
    if at_least(version, 2, 2):
        body["type"] = kp.type
    if full:
        body.update(user_id=kp.user_id, id=kp.seq, deleted=False, deleted_at=None, updated_at=None)
        body["created_at"] = time.strftime("%Y-%m-%dT%H:%M:%S.000000", time.gmtime(kp.created_at))
    return body


def _get_keypair(request: Request) -> Keypair:
    store = dc_of(request).store
    name = request.path_params["name"]
    user_id = request.query_params.get("user_id") or store.identity.user_id
    kp = store.keypairs.get(keypair_key(user_id, name))
    if kp is None:
        raise nova_error(404, f"Keypair {name} not found for user {user_id}")
    return kp


@compute_api
async def keypairs(request: Request, version: Version) -> Response:
    store = dc_of(request).store
    user_id = request.query_params.get("user_id") or store.identity.user_id
    mine = sorted(
        (k for k in store.keypairs.values() if k.user_id == user_id), key=lambda k: k.name
    )
    body: dict[str, Any] = {}
    if at_least(version, 2, 35):
        limit = parse_limit(request.query_params.get("limit"), nova_error, 1000)
        marker = request.query_params.get("marker")
        mine = page(
            mine,
            limit,
            marker,
            lambda k: k.name,
            lambda m: nova_error(400, f"marker [{m}] not found"),
        )
        if mine and len(mine) == limit:
            href = next_href(request, "/compute/v2.1/os-keypairs", mine[-1].name, limit)
            body["keypairs_links"] = [{"rel": "next", "href": href}]
    body["keypairs"] = [{"keypair": _keypair_view(k, version, False)} for k in mine]
    return JSONResponse(body)


@compute_api
async def create_keypair(request: Request, version: Version) -> Response:
    store = dc_of(request).store
    spec = (await read_json(request, nova_error)).get("keypair")
    if not isinstance(spec, dict) or not _KEYPAIR_NAME.match(str(spec.get("name", ""))):
        raise nova_error(400, "Keypair data is invalid: Keypair name contains unsafe characters")
    name = str(spec["name"])
    user_id = str(spec.get("user_id") or store.identity.user_id)
    if keypair_key(user_id, name) in store.keypairs:
        raise nova_error(409, f"Key pair '{name}' already exists.")
    private = None
    public = spec.get("public_key")
    if public is None:
        if at_least(version, 2, 92):
            raise nova_error(
                400, "Invalid input for field/attribute keypair. 'public_key' is required"
            )
        private, public = _generate()
    try:
        fp = fingerprint(str(public))
    except ValueError:
        raise nova_error(400, "Keypair data is invalid: failed to generate fingerprint") from None
    kind = str(spec.get("type", "ssh")) if at_least(version, 2, 2) else "ssh"
    kp = Keypair(name, user_id, str(public).strip(), fp, kind, time.time(), store.next_seq())
    store.keypairs[keypair_key(user_id, name)] = kp
    body = _keypair_view(kp, version, False)
    body["user_id"] = user_id
    if private is not None:
        body["private_key"] = private
    return JSONResponse({"keypair": body}, status_code=201 if at_least(version, 2, 2) else 200)


@compute_api
async def show_keypair(request: Request, version: Version) -> Response:
    return JSONResponse({"keypair": _keypair_view(_get_keypair(request), version, True)})


@compute_api
async def delete_keypair(request: Request, version: Version) -> Response:
    kp = _get_keypair(request)
    del dc_of(request).store.keypairs[keypair_key(kp.user_id, kp.name)]
    return Response(status_code=204 if at_least(version, 2, 2) else 202)


_V = "/compute/v2.1"
routes = [
    Route(f"{_V}/os-keypairs", keypairs, methods=["GET"]),
    Route(f"{_V}/os-keypairs", create_keypair, methods=["POST"]),
    Route(f"{_V}/os-keypairs/{{name}}", show_keypair, methods=["GET"]),
    Route(f"{_V}/os-keypairs/{{name}}", delete_keypair, methods=["DELETE"]),
]
