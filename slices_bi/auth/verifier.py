"""Verify SLICES bearer tokens and tell user tokens from experiment tokens.

A token is accepted only when: its header `alg` is in `settings.token_algorithms` (never
`none` nor HMAC), its `kid` resolves to a key (see `keys.KeyStore`) that fits that alg,
the signature verifies, `exp` is present and not past, `nbf`/`iat` are not in the future
(all with `settings.token_leeway_seconds` of leeway), the token lives no longer than
`settings.token_max_lifetime_seconds` (`exp - iat`, and `exp - now`), and `iss` is one of
`settings.token_issuers` (or the dev issuer's, for tokens signed by the dev issuer key).

Then: an experiment claim (`settings.experiment_claim`) starting with `exp_`/`xp_` makes
it an experiment token, whose `aud`, when present, must name `settings.public_url`; any
other token is a user token, whose `sub` is the user and whose `aud` must name
`settings.public_url`. Trailing slashes are ignored when comparing audiences.
"""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime
from typing import Any

import jwt
from jwt.exceptions import (
    DecodeError,
    ExpiredSignatureError,
    ImmatureSignatureError,
    InvalidAlgorithmError,
    InvalidIssuerError,
    InvalidKeyError,
    InvalidSignatureError,
    InvalidTokenError,
    MissingRequiredClaimError,
    PyJWTError,
)

from slices_bi.auth.errors import TokenError
from slices_bi.auth.identity import ExperimentIdentity, Identity, UserIdentity, is_experiment_id
from slices_bi.auth.keys import KeyStore
from slices_bi.settings import Settings

MAX_TOKEN_LENGTH = 16 * 1024
# Never accepted, whatever `settings.token_algorithms` says.
_FORBIDDEN_ALGORITHMS = re.compile(r"^(none|HS\d+)$", re.IGNORECASE)


class TokenVerifier:
    """Verifies bearer tokens against the keys and policy in `settings`. Thread-safe.

    Build one per process and reuse it: it caches the issuer's keys.
    """

    def __init__(self, settings: Settings, *, key_store: KeyStore | None = None) -> None:
        self._settings = settings
        self._keys = key_store or KeyStore(settings)
        self._algorithms = frozenset(
            alg for alg in settings.token_algorithms if not _FORBIDDEN_ALGORITHMS.match(alg)
        )

    @property
    def key_store(self) -> KeyStore:
        """The key store in use."""
        return self._keys

    def verify(self, token: str) -> Identity:
        """Verify `token` and return the user or experiment it speaks for.

        Raises `TokenError` (401; 503 with `token_keys_unavailable` when the keys cannot
        be fetched) for any token that is missing, malformed or refused.
        """
        claims = self._decode(token)
        if is_experiment_id(claims.get(self._settings.experiment_claim)):
            if "aud" in claims:
                self._check_audience(claims)
            return self._experiment(claims)
        if "aud" not in claims:
            raise TokenError("token_audience", "a user token must have an audience (aud)")
        self._check_audience(claims)
        sub = claims.get("sub")
        if not isinstance(sub, str) or not sub:
            raise TokenError("token_invalid", "a user token must have a subject (sub)")
        return UserIdentity(user_id=sub, claims=claims)

    def verify_user(self, token: str) -> UserIdentity:
        """Like `verify`, but an experiment token is refused with 403 `token_kind`.

        403, not 401: the token is authentic, it just does not grant this (user) action.
        """
        identity = self.verify(token)
        if not isinstance(identity, UserIdentity):
            raise TokenError(
                "token_kind", "this requires a user token, not an experiment token", 403
            )
        return identity

    def verify_experiment(self, token: str) -> ExperimentIdentity:
        """Like `verify`, but a user token is refused with 403 `token_kind`."""
        identity = self.verify(token)
        if not isinstance(identity, ExperimentIdentity):
            raise TokenError(
                "token_kind", "this requires an experiment token, not a user token", 403
            )
        return identity

    def _decode(self, token: str) -> dict[str, Any]:
        if not token or not token.strip():
            raise TokenError("token_missing", "no bearer token was given")
        if len(token) > MAX_TOKEN_LENGTH:
            raise TokenError("token_invalid", "the token is too long")
        try:
            header = jwt.get_unverified_header(token)
        except InvalidTokenError as error:
            raise TokenError("token_invalid", "the token is not a well-formed JWT") from error
        alg = header.get("alg")
        if not isinstance(alg, str) or alg not in self._algorithms:
            raise TokenError(
                "token_algorithm",
                f"token algorithm {str(alg)[:20]!r} is not allowed "
                f"(allowed: {', '.join(sorted(self._algorithms))})",
            )
        kid = header.get("kid")
        if not isinstance(kid, str) or not kid:
            raise TokenError("token_unknown_key", "the token header has no key id (kid)")
        key = self._keys.get(kid, alg)
        issuers = [key.issuer] if key.issuer else list(self._settings.token_issuers)
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                key.jwk,
                algorithms=[alg],
                issuer=issuers,
                leeway=self._settings.token_leeway_seconds,
                options={"require": ["exp", "iss"], "verify_aud": False},
            )
        except ExpiredSignatureError as error:
            raise TokenError("token_expired", "the token has expired") from error
        except ImmatureSignatureError as error:
            raise TokenError("token_not_yet_valid", "the token is not valid yet") from error
        except InvalidIssuerError as error:
            raise TokenError("token_issuer", "the token's issuer is not trusted") from error
        except InvalidSignatureError as error:
            raise TokenError("token_signature", "the token's signature is invalid") from error
        except (InvalidAlgorithmError, InvalidKeyError) as error:
            raise TokenError(
                "token_algorithm", "the token's algorithm does not fit its key"
            ) from error
        except MissingRequiredClaimError as error:
            raise TokenError(
                "token_invalid", f"the token lacks the {error.claim!r} claim"
            ) from error
        except DecodeError as error:
            raise TokenError("token_invalid", "the token is not a well-formed JWT") from error
        except PyJWTError as error:
            raise TokenError("token_invalid", f"the token is invalid: {error}") from error
        self._check_lifetime(claims)
        return claims

    def _check_lifetime(self, claims: dict[str, Any]) -> None:
        # A stolen token must not stay usable for years: bound its life from its issue
        # time, and from now (for tokens without `iat`).
        limit = self._settings.token_max_lifetime_seconds
        exp, iat = claims["exp"], claims.get("iat")
        too_long = exp - time.time() > limit + self._settings.token_leeway_seconds
        if isinstance(iat, int | float) and not isinstance(iat, bool):
            too_long = too_long or exp - iat > limit
        if too_long:
            raise TokenError(
                "token_lifetime",
                f"the token lives longer than this site accepts ({limit} s from issue to "
                "expiry at most); ask for a shorter-lived token",
            )

    def _check_audience(self, claims: dict[str, Any]) -> None:
        aud = claims.get("aud")
        audiences = [aud] if isinstance(aud, str) else aud
        if not isinstance(audiences, list) or not all(isinstance(a, str) for a in audiences):
            raise TokenError("token_audience", "the token's audience (aud) is malformed")
        expected = self._settings.public_url.rstrip("/")
        if expected not in (a.rstrip("/") for a in audiences):
            raise TokenError("token_audience", f"the token is not meant for {expected}")

    def _experiment(self, claims: dict[str, Any]) -> ExperimentIdentity:
        s = self._settings
        return ExperimentIdentity(
            experiment_id=claims[s.experiment_claim],
            project_id=_optional_str(claims, s.experiment_project_claim),
            expires_at=_optional_time(claims, s.experiment_expiry_claim),
            user_id=_optional_str(claims, s.experiment_user_claim),
            claims=claims,
        )


def is_admin(identity: Identity, settings: Settings) -> bool:
    """True when the token's user is in `settings.admin_user_ids`.

    For a user token that is its `sub`; for an experiment token, its user claim
    (`settings.experiment_user_claim`), so an experiment token without one is never admin.
    """
    user_id = identity.user_id
    return user_id is not None and user_id in settings.admin_user_ids


def _optional_str(claims: dict[str, Any], name: str) -> str | None:
    value = claims.get(name)
    if value is None:
        return None
    if not isinstance(value, str) or not value:
        raise TokenError("token_invalid", f"the token's {name!r} claim is not a string")
    return value


def _optional_time(claims: dict[str, Any], name: str) -> datetime | None:
    """A unix timestamp (number or digits) or an ISO-8601 string, as tz-aware UTC."""
    value = claims.get(name)
    if value is None:
        return None
    try:
        if isinstance(value, bool):
            raise TypeError("a boolean is not a time")
        if isinstance(value, int | float):
            return datetime.fromtimestamp(value, UTC)
        if isinstance(value, str):
            text = value.strip()
            if re.fullmatch(r"\d+(\.\d+)?", text):
                return datetime.fromtimestamp(float(text), UTC)
            parsed = datetime.fromisoformat(text)
            if parsed.tzinfo is None:
                parsed = parsed.replace(tzinfo=UTC)
            return parsed.astimezone(UTC)
        raise TypeError(f"unexpected type {type(value).__name__}")
    except (TypeError, ValueError, OverflowError, OSError) as error:
        raise TokenError("token_invalid", f"the token's {name!r} claim is not a time") from error
