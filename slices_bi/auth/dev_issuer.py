"""A local token issuer for development and tests, on only with `settings.dev_issuer`.

It signs SLICES-shaped user and experiment tokens (ES256, `kid` = RFC 7638 thumbprint)
with an EC P-256 key kept at `<data_dir>/dev-issuer/key.pem` (created on first use,
mode 0600). Its issuer is `<public_url>/dev-issuer`; the verifier trusts that issuer,
and only for tokens signed by this key, while the dev issuer is on.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from jwt.algorithms import ECAlgorithm
from typeid import base32

from slices_bi.auth.identity import is_experiment_id
from slices_bi.settings import Settings

DEV_NAMESPACE = "dev.slices-bi"
DEFAULT_EXPERIMENT_LIFETIME = timedelta(days=7)

_cache_lock = threading.Lock()
# Loaded keys by path, valid while the file's (inode, mtime) stays the same.
_key_cache: dict[Path, tuple[tuple[int, int], ec.EllipticCurvePrivateKey]] = {}


class DevIssuerDisabled(RuntimeError):
    """The dev issuer was used while `settings.dev_issuer` is false."""


def _require_enabled(settings: Settings) -> None:
    if not settings.dev_issuer:
        raise DevIssuerDisabled(
            "the dev issuer is disabled; set SLICES_BI_DEV_ISSUER=true to mint local tokens "
            "(never on a production site)"
        )


def dev_issuer_url(settings: Settings) -> str:
    """The `iss` of dev-issuer tokens: `<public_url>/dev-issuer`."""
    return f"{settings.public_url.rstrip('/')}/dev-issuer"


def dev_key_path(settings: Settings) -> Path:
    """Where the dev issuer's private key lives."""
    return settings.data_dir / "dev-issuer" / "key.pem"


def _random_suffix() -> str:
    return base32.encode(uuid.uuid4().bytes)


def _create_key(path: Path) -> None:
    """Write a fresh key to `path` unless another process got there first."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    key = ec.generate_private_key(ec.SECP256R1())
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(pem)
        try:
            os.link(tmp, path)  # atomic, and never replaces a key someone else created
        except FileExistsError:
            pass
        except OSError:  # a filesystem without hard links
            if not path.exists():
                os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def _private_key(settings: Settings) -> ec.EllipticCurvePrivateKey:
    path = dev_key_path(settings).resolve()
    with _cache_lock:
        if not path.exists():
            _create_key(path)
        stat = path.stat()
        stamp = (stat.st_ino, stat.st_mtime_ns)
        cached = _key_cache.get(path)
        if cached is not None and cached[0] == stamp:
            return cached[1]
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
        if not isinstance(key, ec.EllipticCurvePrivateKey) or not isinstance(
            key.curve, ec.SECP256R1
        ):
            raise ValueError(f"{path} is not an EC P-256 private key")
        _key_cache[path] = (stamp, key)
        return key


def _public_jwk(key: ec.EllipticCurvePrivateKey) -> dict[str, Any]:
    jwk: dict[str, Any] = ECAlgorithm.to_jwk(key.public_key(), as_dict=True)
    # RFC 7638: SHA-256 of the required members, sorted, without whitespace.
    members = {name: jwk[name] for name in ("crv", "kty", "x", "y")}
    canonical = json.dumps(members, sort_keys=True, separators=(",", ":")).encode()
    kid = base64.urlsafe_b64encode(hashlib.sha256(canonical).digest()).rstrip(b"=").decode()
    return {**members, "kid": kid, "alg": "ES256", "use": "sig"}


def dev_jwks(settings: Settings) -> dict[str, Any]:
    """The dev issuer's public JWKS (`{"keys": [...]}`), creating the key if needed.

    Raises `DevIssuerDisabled` when `settings.dev_issuer` is false.
    """
    _require_enabled(settings)
    return {"keys": [_public_jwk(_private_key(settings))]}


def _mint(settings: Settings, claims: dict[str, Any], ttl_seconds: int) -> str:
    _require_enabled(settings)
    if ttl_seconds <= 0:
        raise ValueError("ttl_seconds must be positive")
    key = _private_key(settings)
    now = int(time.time())
    payload = {
        "iss": dev_issuer_url(settings),
        "aud": settings.public_url,
        "iat": now,
        "exp": now + ttl_seconds,
        **claims,
    }
    headers = {"kid": _public_jwk(key)["kid"], "typ": "JWT"}
    return jwt.encode(payload, key, algorithm="ES256", headers=headers)


def mint_user_token(
    settings: Settings, *, user_id: str | None = None, ttl_seconds: int = 3600
) -> str:
    """A portal-like user token for `user_id` (default: a fresh `user_dev.slices-bi_...`).

    `aud` is `settings.public_url`. Raises `DevIssuerDisabled` when the dev issuer is off.
    """
    user_id = user_id or f"user_{DEV_NAMESPACE}_{_random_suffix()}"
    if user_id.startswith(("exp_", "xp_")):
        raise ValueError("a user id must not look like an experiment id")
    claims = {
        "sub": user_id,
        "scope": "openid userinfo projects",
        "preferred_username": user_id.rsplit("_", 1)[-1][:12],
    }
    return _mint(settings, claims, ttl_seconds)


def mint_experiment_token(
    settings: Settings,
    *,
    experiment_id: str | None = None,
    project_id: str | None = None,
    experiment_expires_at: datetime | None = None,
    user_id: str | None = None,
    ttl_seconds: int = 900,
) -> str:
    """An experiment token like `slices experiment jwt NAME` gives.

    Defaults: a fresh `exp_dev.slices-bi_...` experiment in a fresh `proj_dev.slices-bi_...`
    project, expiring in 7 days, for a fresh `user_dev.slices-bi_...` user. The claims are
    named by `settings.experiment_claim`, `experiment_project_claim`,
    `experiment_expiry_claim` (unix seconds) and `experiment_user_claim`; `aud` is
    `settings.public_url`. Raises `DevIssuerDisabled` when the dev issuer is off.
    """
    experiment_id = experiment_id or f"exp_{DEV_NAMESPACE}_{_random_suffix()}"
    if not is_experiment_id(experiment_id):
        raise ValueError("an experiment id must start with 'exp_' (or legacy 'xp_')")
    project_id = project_id or f"proj_{DEV_NAMESPACE}_{_random_suffix()}"
    user_id = user_id or f"user_{DEV_NAMESPACE}_{_random_suffix()}"
    if experiment_expires_at is None:
        experiment_expires_at = datetime.now(UTC) + DEFAULT_EXPERIMENT_LIFETIME
    elif experiment_expires_at.tzinfo is None:
        raise ValueError("experiment_expires_at must be timezone-aware")
    claims = {
        settings.experiment_claim: experiment_id,
        settings.experiment_project_claim: project_id,
        settings.experiment_expiry_claim: int(experiment_expires_at.timestamp()),
        settings.experiment_user_claim: user_id,
    }
    return _mint(settings, claims, ttl_seconds)
