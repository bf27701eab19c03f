"""KeyStore: JWKS file, JWKS over real HTTP, OIDC discovery, rotation, rate-limited refresh."""

from __future__ import annotations

import json
import socket
import threading

import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from slices_bi.auth import KeyStore, TokenError, TokenVerifier

from .helpers import ISSUER, USER_ID, make_settings, public_jwk, sign, user_claims


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def refused_code(verifier: TokenVerifier, token: str) -> tuple[str, int]:
    with pytest.raises(TokenError) as caught:
        verifier.verify(token)
    return caught.value.code, caught.value.status_code


@pytest.fixture
def new_key():
    return ec.generate_private_key(ec.SECP256R1())


def test_jwks_file(file_settings, ec_key, rsa_key):
    verifier = TokenVerifier(file_settings())
    assert verifier.verify(sign(ec_key, user_claims())).user_id == USER_ID
    assert verifier.verify(sign(rsa_key, user_claims(), kid="rsa1", alg="RS256")).user_id
    assert verifier.key_store.get("ec1", "ES256").source.startswith("jwks_file")


def test_jwks_file_rotation_is_picked_up(tmp_path, jwks_file, ec_key, new_key):
    verifier = TokenVerifier(make_settings(tmp_path, jwks_file=jwks_file))
    assert verifier.verify(sign(ec_key, user_claims())).user_id == USER_ID
    jwks_file.write_text(json.dumps({"keys": [public_jwk(new_key, "ec2")]}))
    assert verifier.verify(sign(new_key, user_claims(), kid="ec2")).user_id == USER_ID


def test_unknown_kid_refresh_picks_up_a_rotated_key_over_http(
    tmp_path, json_server, ec_key, new_key
):
    url = json_server.serve("/jwks", {"keys": [public_jwk(ec_key, "ec1")]})
    verifier = TokenVerifier(make_settings(tmp_path, jwks_url=url))
    assert verifier.verify(sign(ec_key, user_claims())).user_id == USER_ID
    assert json_server.hits["/jwks"] == 1
    # Cached: no new fetch for a known kid.
    assert verifier.verify(sign(ec_key, user_claims())).user_id == USER_ID
    assert json_server.hits["/jwks"] == 1

    json_server.serve("/jwks", {"keys": [public_jwk(new_key, "ec2")]})
    assert verifier.verify(sign(new_key, user_claims(), kid="ec2")).user_id == USER_ID
    assert json_server.hits["/jwks"] == 2
    # The retired key is gone, and a second refresh so soon is not allowed.
    assert refused_code(verifier, sign(ec_key, user_claims())) == ("token_unknown_key", 401)
    assert json_server.hits["/jwks"] == 2


def test_unknown_kid_that_stays_unknown_is_refused_and_refresh_is_rate_limited(
    tmp_path, json_server, ec_key, new_key
):
    url = json_server.serve("/jwks", {"keys": [public_jwk(ec_key, "ec1")]})
    clock = Clock()
    settings = make_settings(tmp_path, jwks_url=url)
    verifier = TokenVerifier(settings, key_store=KeyStore(settings, clock=clock))

    assert verifier.verify(sign(ec_key, user_claims())).user_id == USER_ID
    assert json_server.hits["/jwks"] == 1
    token = sign(new_key, user_claims(), kid="bogus-1")
    assert refused_code(verifier, token) == ("token_unknown_key", 401)
    assert json_server.hits["/jwks"] == 2  # one refresh for the unknown kid
    for n in range(10):
        token = sign(new_key, user_claims(), kid=f"bogus-{n}")
        assert refused_code(verifier, token) == ("token_unknown_key", 401)
    assert json_server.hits["/jwks"] == 2

    clock.now += 31
    assert refused_code(verifier, token) == ("token_unknown_key", 401)
    assert json_server.hits["/jwks"] == 3


def test_first_load_is_not_repeated_for_an_unknown_kid(tmp_path, json_server, new_key):
    url = json_server.serve("/jwks", {"keys": [public_jwk(new_key, "ec1")]})
    verifier = TokenVerifier(make_settings(tmp_path, jwks_url=url))
    token = sign(new_key, user_claims(), kid="bogus")
    assert refused_code(verifier, token) == ("token_unknown_key", 401)
    assert json_server.hits["/jwks"] == 1


def test_cache_expires_after_its_ttl(tmp_path, json_server, ec_key):
    url = json_server.serve("/jwks", {"keys": [public_jwk(ec_key, "ec1")]})
    clock = Clock()
    settings = make_settings(tmp_path, jwks_url=url)
    verifier = TokenVerifier(settings, key_store=KeyStore(settings, clock=clock, cache_ttl=60))
    verifier.verify(sign(ec_key, user_claims()))
    clock.now += 59
    verifier.verify(sign(ec_key, user_claims()))
    assert json_server.hits["/jwks"] == 1
    clock.now += 2
    verifier.verify(sign(ec_key, user_claims()))
    assert json_server.hits["/jwks"] == 2


def test_discovery_document_gives_the_jwks_uri(tmp_path, json_server, ec_key):
    jwks_uri = json_server.serve("/protocol/certs", {"keys": [public_jwk(ec_key, "ec1")]})
    discovery = json_server.serve(
        "/.well-known/openid-configuration", {"issuer": ISSUER, "jwks_uri": jwks_uri}
    )
    verifier = TokenVerifier(make_settings(tmp_path, oidc_discovery_url=discovery))
    assert verifier.verify(sign(ec_key, user_claims())).user_id == USER_ID
    assert json_server.hits == {"/.well-known/openid-configuration": 1, "/protocol/certs": 1}


def test_discovery_without_jwks_uri_is_unavailable(tmp_path, json_server, ec_key):
    discovery = json_server.serve("/.well-known/openid-configuration", {"issuer": ISSUER})
    verifier = TokenVerifier(make_settings(tmp_path, oidc_discovery_url=discovery))
    assert refused_code(verifier, sign(ec_key, user_claims())) == ("token_keys_unavailable", 503)


def test_unreachable_jwks_url_is_unavailable_not_invalid(tmp_path, ec_key):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    settings = make_settings(tmp_path, jwks_url=f"http://127.0.0.1:{port}/jwks")
    verifier = TokenVerifier(settings, key_store=KeyStore(settings, http_timeout=2))
    assert refused_code(verifier, sign(ec_key, user_claims())) == ("token_keys_unavailable", 503)


def test_http_error_keeps_the_cached_keys(tmp_path, json_server, ec_key):
    url = json_server.serve("/jwks", {"keys": [public_jwk(ec_key, "ec1")]})
    clock = Clock()
    settings = make_settings(tmp_path, jwks_url=url)
    verifier = TokenVerifier(settings, key_store=KeyStore(settings, clock=clock, cache_ttl=60))
    verifier.verify(sign(ec_key, user_claims()))
    json_server.serve("/jwks", None)  # now 404
    clock.now += 120
    assert verifier.verify(sign(ec_key, user_claims())).user_id == USER_ID
    assert json_server.hits["/jwks"] == 2


def test_no_key_source_is_unavailable(tmp_path, ec_key):
    verifier = TokenVerifier(make_settings(tmp_path))
    assert refused_code(verifier, sign(ec_key, user_claims())) == ("token_keys_unavailable", 503)


def test_unusable_keys_are_skipped(tmp_path, ec_key):
    path = tmp_path / "jwks.json"
    keys = [
        {"kty": "oct", "kid": "sym", "k": "c2VjcmV0"},
        {"kty": "EC", "kid": "broken", "crv": "P-256", "x": "AA", "y": "AA"},
        {**public_jwk(ec_key, "enc"), "use": "enc"},
        public_jwk(ec_key, "ec1"),
    ]
    path.write_text(json.dumps({"keys": keys}))
    store = KeyStore(make_settings(tmp_path, jwks_file=path))
    assert store.get("ec1", "ES256").kid == "ec1"
    for kid in ("sym", "broken", "enc"):
        with pytest.raises(TokenError) as caught:
            store.get(kid, "ES256")
        assert caught.value.code == "token_unknown_key"


def test_concurrent_verification_fetches_once(tmp_path, json_server, ec_key):
    url = json_server.serve("/jwks", {"keys": [public_jwk(ec_key, "ec1")]})
    verifier = TokenVerifier(make_settings(tmp_path, jwks_url=url))
    token = sign(ec_key, user_claims())
    results: list[str] = []
    start = threading.Barrier(16)

    def run() -> None:
        start.wait()
        results.append(verifier.verify_user(token).user_id)

    threads = [threading.Thread(target=run) for _ in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == [USER_ID] * 16
    assert json_server.hits["/jwks"] == 1
