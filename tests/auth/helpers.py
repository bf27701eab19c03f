"""Helpers for the auth tests: token claims, signing, explicit settings."""

from __future__ import annotations

import base64
import json
import time
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import ec
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

from slices_bi.settings import Settings

ISSUER = "https://account.ilabt.imec.be"
PUBLIC_URL = "https://bi.example.test"
USER_ID = "user_account.ilabt.imec.be_0ma4rks06s9kxahxrgjhg6y41b"
EXPERIMENT_ID = "exp_expauth.ilabt.imec.be_01kz1p6j9ker1bd1jr5epb5m41"
PROJECT_ID = "proj_account.ilabt.imec.be_01kz1p6j9ker1bd1jr5epb5m42"


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64json(obj: Any) -> str:
    return b64url(json.dumps(obj, separators=(",", ":")).encode())


def public_jwk(key: Any, kid: str, alg: str | None = None) -> dict[str, Any]:
    """The public JWK of a cryptography private key."""
    public = key.public_key()
    algo = ECAlgorithm if isinstance(public, ec.EllipticCurvePublicKey) else RSAAlgorithm
    jwk = algo.to_jwk(public, as_dict=True)
    jwk.update(kid=kid, use="sig")
    if alg:
        jwk["alg"] = alg
    return jwk


def user_claims(**overrides: Any) -> dict[str, Any]:
    now = int(time.time())
    claims = {
        "iss": ISSUER,
        "aud": PUBLIC_URL,
        "iat": now,
        "exp": now + 3600,
        "sub": USER_ID,
        "scope": "openid userinfo projects",
        "preferred_username": "twlocal",
    }
    claims.update(overrides)
    return {k: v for k, v in claims.items() if v is not None}


def sign(key: Any, claims: dict[str, Any], *, kid: str | None = "ec1", alg: str = "ES256") -> str:
    headers = {"kid": kid} if kid is not None else {}
    return jwt.encode(claims, key, algorithm=alg, headers=headers)


def make_settings(tmp_path: Path, **overrides: Any) -> Settings:
    """Settings with every token field explicit, so the process env cannot leak in."""
    values: dict[str, Any] = {
        "public_url": PUBLIC_URL,
        "data_dir": tmp_path / "data",
        "jwks_url": None,
        "jwks_file": None,
        "oidc_discovery_url": None,
        "token_issuers": [ISSUER],
        "token_algorithms": ["ES256", "RS256"],
        "token_leeway_seconds": 30,
        "experiment_claim": "sub",
        "experiment_project_claim": "project_id",
        "experiment_expiry_claim": "experiment_expires_at",
        "experiment_user_claim": "user_id",
        "admin_user_ids": [],
        "dev_issuer": False,
    }
    values.update(overrides)
    return Settings(_env_file=None, **values)
