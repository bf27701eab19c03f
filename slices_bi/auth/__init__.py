"""Bearer-token authentication: SLICES user and experiment tokens, and a dev issuer.

`TokenVerifier(settings).verify(token)` returns a `UserIdentity` or an
`ExperimentIdentity`, or raises `TokenError` (with `status_code`, `code`, `detail`).
"""

from __future__ import annotations

from functools import lru_cache

from slices_bi.auth.dev_issuer import (
    DevIssuerDisabled,
    dev_issuer_url,
    dev_jwks,
    mint_experiment_token,
    mint_user_token,
)
from slices_bi.auth.errors import TokenError
from slices_bi.auth.identity import ExperimentIdentity, Identity, UserIdentity
from slices_bi.auth.keys import KeyStore
from slices_bi.auth.verifier import TokenVerifier, is_admin
from slices_bi.settings import get_settings

__all__ = [
    "DevIssuerDisabled",
    "ExperimentIdentity",
    "Identity",
    "KeyStore",
    "TokenError",
    "TokenVerifier",
    "UserIdentity",
    "dev_issuer_url",
    "dev_jwks",
    "get_token_verifier",
    "is_admin",
    "mint_experiment_token",
    "mint_user_token",
]


@lru_cache
def get_token_verifier() -> TokenVerifier:
    """The process-wide verifier for `get_settings()`; `get_token_verifier.cache_clear()`
    after changing settings (e.g. in tests)."""
    return TokenVerifier(get_settings())
