"""Verification keys by `kid`, from the dev issuer, a JWKS file, a JWKS URL or OIDC discovery.

Every configured source is consulted, in that order. Keys are cached for
`jwks_cache_seconds` (default 1 h). A `kid` found nowhere triggers one reload of the
file/URL/discovery sources, at most once per `jwks_refresh_min_seconds` (default 30 s),
so a flood of tokens with made-up kids cannot hammer the portal. JWKS parsing is
PyJWT's (`PyJWKSet`/`PyJWK`); fetching is httpx with a timeout. Thread-safe.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from jwt import PyJWK, PyJWKSet
from jwt.exceptions import PyJWTError

from slices_bi.auth.dev_issuer import dev_issuer_url, dev_jwks
from slices_bi.auth.errors import TokenError
from slices_bi.settings import Settings

logger = logging.getLogger(__name__)

MAX_DOCUMENT_BYTES = 1 << 20


@dataclass(frozen=True)
class ResolvedKey:
    """A verification key for one `kid` and algorithm.

    `issuer` is set when the key may only sign tokens of that issuer (the dev issuer's
    key); `None` means any of the configured `token_issuers`.
    """

    kid: str
    jwk: PyJWK
    issuer: str | None
    source: str


@dataclass(frozen=True)
class _Entry:
    jwk: dict[str, Any]
    issuer: str | None
    source: str
    by_algorithm: dict[str, PyJWK] = field(default_factory=dict, compare=False)


def parse_jwks(document: object, source: str) -> dict[str, dict[str, Any]]:
    """The usable signing JWKs of a JWKS document, by kid (keys PyJWT cannot load are skipped).

    Symmetric (`oct`) keys and keys without a `kid` or with `use` other than `sig` are
    ignored. Raises `ValueError` when the document is not a JWKS with a usable key.
    """
    if not isinstance(document, dict) or not isinstance(document.get("keys"), list):
        raise ValueError(f"{source}: not a JWKS document")
    candidates = [
        key
        for key in document["keys"]
        if isinstance(key, dict)
        and isinstance(key.get("kid"), str)
        and key.get("use", "sig") == "sig"
        and key.get("kty") != "oct"
    ]
    try:
        usable = PyJWKSet(candidates).keys
    except PyJWTError as error:
        raise ValueError(f"{source}: no usable signing key ({error})") from error
    by_kid = {str(key.key_id): key for key in usable}
    return {kid: jwk for jwk in candidates if (kid := jwk["kid"]) in by_kid}


class KeyStore:
    """Resolves a token's `kid` to a verification key; caches and refreshes the key sets."""

    def __init__(
        self,
        settings: Settings,
        *,
        min_refresh_interval: float | None = None,
        cache_ttl: float | None = None,
        http_timeout: float | None = None,
        http_client: httpx.Client | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._settings = settings
        self._min_refresh_interval = _setting(
            settings, "jwks_refresh_min_seconds", min_refresh_interval, 30.0
        )
        self._cache_ttl = _setting(settings, "jwks_cache_seconds", cache_ttl, 3600.0)
        self._http_timeout = _setting(settings, "jwks_http_timeout_seconds", http_timeout, 5.0)
        self._http = http_client  # created on first fetch
        self._clock = clock
        self._lock = threading.Lock()
        self._keys: Mapping[str, _Entry] = {}  # replaced whole, so readers need no lock
        self._loaded_at: float | None = None
        self._last_forced: float | None = None
        self._failed: list[str] = []
        self._jwks_uri: str | None = None
        self._generation = 0

    @property
    def configured(self) -> bool:
        """True when at least one key source is configured."""
        s = self._settings
        return bool(s.dev_issuer or s.jwks_file or s.jwks_url or s.oidc_discovery_url)

    def get(self, kid: str, algorithm: str) -> ResolvedKey:
        """The key for `kid`, usable with `algorithm`; raises `TokenError` otherwise.

        Codes: `token_unknown_key` (401) when no source knows `kid` even after a refresh,
        `token_algorithm` (401) when the key does not fit `algorithm`,
        `token_keys_unavailable` (503) when a source could not be loaded or none is set.
        """
        if not self.configured:
            raise TokenError(
                "token_keys_unavailable", "no token key source is configured", status_code=503
            )
        generation = self._generation
        now = self._clock()
        if self._loaded_at is None or now - self._loaded_at >= self._cache_ttl:
            self._reload(forced=False)
        entry = self._keys.get(kid)
        if entry is None and self._generation == generation:  # not just loaded: refresh
            self._reload(forced=True)
            entry = self._keys.get(kid)
        if entry is None:
            if self._failed:
                raise TokenError(
                    "token_keys_unavailable",
                    f"token keys could not be loaded from: {', '.join(self._failed)}",
                    status_code=503,
                )
            raise TokenError("token_unknown_key", "the token's signing key (kid) is unknown")
        return ResolvedKey(kid, _pyjwk(entry, algorithm), entry.issuer, entry.source)

    def refresh(self) -> None:
        """Reload every source now (ignores the rate limit)."""
        with self._lock:
            self._load_all()

    def close(self) -> None:
        """Close the HTTP client, if one was opened."""
        if self._http is not None:
            self._http.close()

    def _reload(self, *, forced: bool) -> None:
        seen = self._generation
        with self._lock:
            if self._generation != seen:
                return  # another thread reloaded while we waited
            now = self._clock()
            if forced:
                if (
                    self._last_forced is not None
                    and now - self._last_forced < self._min_refresh_interval
                ):
                    return
                self._last_forced = now
            elif self._loaded_at is not None and now - self._loaded_at < self._cache_ttl:
                return
            self._load_all()

    def _load_all(self) -> None:
        """Load every source; keep a source's previous keys when it fails. Holds the lock."""
        s = self._settings
        sources: list[tuple[str, Callable[[], Mapping[str, dict[str, Any]]], str | None]] = []
        if s.dev_issuer:
            sources.append(
                ("dev issuer", lambda: parse_jwks(dev_jwks(s), "dev issuer"), dev_issuer_url(s))
            )
        if s.jwks_file:
            path = s.jwks_file
            sources.append((f"jwks_file {path}", lambda: self._load_file(path), None))
        if s.jwks_url:
            url = s.jwks_url
            sources.append((f"jwks_url {url}", lambda: self._load_url(url), None))
        if s.oidc_discovery_url:
            disc = s.oidc_discovery_url
            sources.append((f"discovery {disc}", lambda: self._load_discovery(disc), None))
        keys: dict[str, _Entry] = {}
        failed: list[str] = []
        for name, load, issuer in sources:
            try:
                loaded = {kid: _Entry(jwk, issuer, name) for kid, jwk in load().items()}
            except (OSError, ValueError, httpx.HTTPError, httpx.InvalidURL) as error:
                logger.warning("cannot load token keys from %s: %s", name, error)
                failed.append(name)
                loaded = {k: e for k, e in self._keys.items() if e.source == name}
            for kid, entry in loaded.items():
                keys.setdefault(kid, entry)  # earlier sources win a kid clash
        self._keys = keys
        self._failed = failed
        self._loaded_at = self._clock()
        self._generation += 1

    def _load_file(self, path: Path) -> dict[str, dict[str, Any]]:
        return parse_jwks(json.loads(path.read_text()), f"jwks_file {path}")

    def _get_json(self, url: str) -> object:
        if self._http is None:  # only ever called with the lock held
            self._http = httpx.Client(timeout=self._http_timeout, follow_redirects=True)
        response = self._http.get(url, headers={"Accept": "application/json"})
        response.raise_for_status()
        if len(response.content) > MAX_DOCUMENT_BYTES:
            raise ValueError(f"{url}: document too large")
        return response.json()

    def _load_url(self, url: str) -> dict[str, dict[str, Any]]:
        return parse_jwks(self._get_json(url), url)

    def _load_discovery(self, url: str) -> dict[str, dict[str, Any]]:
        if self._jwks_uri is None:
            document = self._get_json(url)
            jwks_uri = document.get("jwks_uri") if isinstance(document, dict) else None
            if not isinstance(jwks_uri, str) or not jwks_uri.startswith(("https://", "http://")):
                raise ValueError(f"{url}: discovery document has no usable jwks_uri")
            self._jwks_uri = jwks_uri
        try:
            return self._load_url(self._jwks_uri)
        except (ValueError, httpx.HTTPError, httpx.InvalidURL):
            self._jwks_uri = None  # re-read the discovery document next time
            raise


def _pyjwk(entry: _Entry, algorithm: str) -> PyJWK:
    """The entry's key bound to `algorithm`, when the key's type (and `alg`) allow it."""
    declared = entry.jwk.get("alg")
    if declared is not None and declared != algorithm:
        raise TokenError(
            "token_algorithm", f"the token's alg does not match its key's alg {declared!r}"
        )
    jwk = entry.by_algorithm.get(algorithm)
    if jwk is None:
        try:
            jwk = PyJWK(entry.jwk, algorithm=algorithm)
        except PyJWTError as error:
            raise TokenError(
                "token_algorithm", f"the token's key cannot be used with {algorithm}"
            ) from error
        entry.by_algorithm[algorithm] = jwk
    return jwk


def _setting(settings: Settings, name: str, override: float | None, default: float) -> float:
    if override is not None:
        return override
    return float(getattr(settings, name, default))
