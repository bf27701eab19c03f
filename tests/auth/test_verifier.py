"""TokenVerifier: accepted tokens, refused tokens, token kinds, is_admin."""

from __future__ import annotations

import hashlib
import hmac
import time
from datetime import UTC, datetime

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from slices_bi.auth import (
    ExperimentIdentity,
    TokenError,
    TokenVerifier,
    UserIdentity,
    is_admin,
)

from .helpers import (
    EXPERIMENT_ID,
    ISSUER,
    PROJECT_ID,
    PUBLIC_URL,
    USER_ID,
    b64json,
    b64url,
    sign,
    user_claims,
)


def refused(verifier: TokenVerifier, token: str, code: str, status: int = 401) -> TokenError:
    with pytest.raises(TokenError) as caught:
        verifier.verify(token)
    error = caught.value
    assert (error.code, error.status_code) == (code, status), error
    if token:
        assert token not in error.detail
        assert token not in str(error)
    return error


def experiment_claims(**overrides):
    values = {
        "sub": EXPERIMENT_ID,
        "project_id": PROJECT_ID,
        "user_id": USER_ID,
        "experiment_expires_at": int(time.time()) + 7 * 86400,
        "exp": int(time.time()) + 900,
        "scope": None,
        "preferred_username": None,
    }
    return user_claims(**{**values, **overrides})


@pytest.fixture
def verifier(file_settings):
    return TokenVerifier(file_settings())


# --- accepted ---------------------------------------------------------------------------


def test_valid_es256_user_token(verifier, ec_key):
    identity = verifier.verify(sign(ec_key, user_claims()))
    assert isinstance(identity, UserIdentity)
    assert identity.user_id == USER_ID
    assert identity.claims["preferred_username"] == "twlocal"
    assert identity.claims["iss"] == ISSUER


def test_valid_rs256_user_token(verifier, rsa_key):
    token = sign(rsa_key, user_claims(sub="user_x_1"), kid="rsa1", alg="RS256")
    assert verifier.verify_user(token) == UserIdentity("user_x_1", claims={})


def test_audience_list_and_trailing_slash_are_accepted(verifier, ec_key):
    for aud in ([f"{PUBLIC_URL}/", "https://other.example"], f"{PUBLIC_URL}/"):
        assert verifier.verify(sign(ec_key, user_claims(aud=aud))).user_id == USER_ID


def test_experiment_token_with_unix_expiry(verifier, ec_key):
    expires = datetime(2031, 5, 6, 7, 8, 9, tzinfo=UTC)
    token = sign(ec_key, experiment_claims(experiment_expires_at=int(expires.timestamp())))
    identity = verifier.verify_experiment(token)
    assert identity == ExperimentIdentity(
        experiment_id=EXPERIMENT_ID,
        project_id=PROJECT_ID,
        expires_at=expires,
        user_id=USER_ID,
        claims={},
    )
    assert identity.expires_at is not None
    assert identity.expires_at.utcoffset() is not None


@pytest.mark.parametrize(
    "value",
    [
        "2031-05-06T07:08:09Z",
        "2031-05-06T07:08:09+00:00",
        "2031-05-06T09:08:09+02:00",
        "2031-05-06T07:08:09",
        "1935817689",
    ],
)
def test_experiment_token_with_iso_expiry(verifier, ec_key, value):
    identity = verifier.verify(sign(ec_key, experiment_claims(experiment_expires_at=value)))
    assert isinstance(identity, ExperimentIdentity)
    assert identity.expires_at == datetime(2031, 5, 6, 7, 8, 9, tzinfo=UTC)
    assert identity.expires_at.tzinfo is not None


def test_naive_iso_expiry_is_utc_whatever_the_local_zone(verifier, ec_key, monkeypatch):
    monkeypatch.setenv("TZ", "America/New_York")
    time.tzset()
    try:
        token = sign(ec_key, experiment_claims(experiment_expires_at="2031-05-06T07:08:09"))
        identity = verifier.verify_experiment(token)
    finally:
        monkeypatch.undo()
        time.tzset()
    assert identity.expires_at == datetime(2031, 5, 6, 7, 8, 9, tzinfo=UTC)


def test_experiment_token_without_optional_claims_or_audience(verifier, ec_key):
    claims = experiment_claims(
        sub="xp_legacy.example_1",
        aud=None,
        project_id=None,
        user_id=None,
        experiment_expires_at=None,
    )
    identity = verifier.verify(sign(ec_key, claims))
    assert identity == ExperimentIdentity("xp_legacy.example_1", None, None, None, claims={})


def test_experiment_claim_names_come_from_settings(file_settings, ec_key):
    settings = file_settings(
        experiment_claim="experiment_id",
        experiment_project_claim="project",
        experiment_expiry_claim="expires",
        experiment_user_claim="sub",
    )
    claims = user_claims(experiment_id=EXPERIMENT_ID, project="p1", expires=2000000000)
    identity = TokenVerifier(settings).verify(sign(ec_key, claims))
    assert identity == ExperimentIdentity(
        EXPERIMENT_ID, "p1", datetime.fromtimestamp(2000000000, UTC), USER_ID, claims={}
    )


def test_leeway_accepts_a_just_expired_token(verifier, ec_key):
    token = sign(ec_key, user_claims(exp=int(time.time()) - 5))
    assert verifier.verify(token).user_id == USER_ID


# --- refused: time, audience, issuer, claims --------------------------------------------


def test_expired(verifier, ec_key):
    refused(verifier, sign(ec_key, user_claims(exp=int(time.time()) - 120)), "token_expired")


def test_not_yet_valid(verifier, ec_key):
    token = sign(ec_key, user_claims(nbf=int(time.time()) + 600))
    refused(verifier, token, "token_not_yet_valid")


def test_missing_exp(verifier, ec_key):
    refused(verifier, sign(ec_key, user_claims(exp=None)), "token_invalid")


def test_wrong_audience_on_user_token(verifier, ec_key):
    token = sign(ec_key, user_claims(aud="https://other-bi.example.test"))
    refused(verifier, token, "token_audience")


def test_missing_audience_on_user_token(verifier, ec_key):
    refused(verifier, sign(ec_key, user_claims(aud=None)), "token_audience")


def test_wrong_audience_on_experiment_token(verifier, ec_key):
    token = sign(ec_key, experiment_claims(aud="https://other-bi.example.test"))
    refused(verifier, token, "token_audience")


def test_wrong_issuer(verifier, ec_key):
    refused(verifier, sign(ec_key, user_claims(iss="https://evil.example")), "token_issuer")


def test_missing_issuer(verifier, ec_key):
    refused(verifier, sign(ec_key, user_claims(iss=None)), "token_invalid")


def test_malformed_experiment_expiry(verifier, ec_key):
    token = sign(ec_key, experiment_claims(experiment_expires_at="next tuesday"))
    refused(verifier, token, "token_invalid")


def test_missing_and_garbage_tokens(verifier):
    refused(verifier, "", "token_missing")
    refused(verifier, "not-a-jwt", "token_invalid")
    refused(verifier, "a.b.c", "token_invalid")


# --- refused: algorithms and signatures -------------------------------------------------


@pytest.mark.parametrize("alg", ["none", "None", "NONE"])
@pytest.mark.parametrize("extra_allowed", [[], ["none"]])
def test_alg_none(file_settings, alg, extra_allowed):
    verifier = TokenVerifier(file_settings(token_algorithms=["ES256", *extra_allowed]))
    token = f"{b64json({'alg': alg, 'typ': 'JWT', 'kid': 'ec1'})}.{b64json(user_claims())}."
    refused(verifier, token, "token_algorithm")


@pytest.mark.parametrize("extra_allowed", [[], ["HS256"]])
def test_hs256_signed_with_the_public_key_pem(file_settings, ec_key, rsa_key, extra_allowed):
    """The classic confusion attack: HMAC with the issuer's public key as the secret."""
    verifier = TokenVerifier(file_settings(token_algorithms=["ES256", "RS256", *extra_allowed]))
    for key, kid in ((ec_key, "ec1"), (rsa_key, "rsa1")):
        secret = key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        signing_input = f"{b64json({'alg': 'HS256', 'kid': kid})}.{b64json(user_claims())}"
        mac = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
        refused(verifier, f"{signing_input}.{b64url(mac)}", "token_algorithm")


def test_plain_hs256(file_settings):
    verifier = TokenVerifier(file_settings(token_algorithms=["ES256", "HS256"]))
    token = jwt.encode(user_claims(), "s3cret-s3cret-s3cret-s3cret-s3cret", algorithm="HS256")
    refused(verifier, token, "token_algorithm")
    token = jwt.encode(user_claims(), "x" * 40, algorithm="HS256", headers={"kid": "ec1"})
    refused(verifier, token, "token_algorithm")


def test_algorithm_not_in_settings(file_settings, ec_key):
    verifier = TokenVerifier(file_settings(token_algorithms=["RS256"]))
    refused(verifier, sign(ec_key, user_claims()), "token_algorithm")


def test_token_alg_must_fit_the_key(verifier, rsa_key, ec_key):
    # RS256 header pointing at the EC key (which also declares alg ES256), and vice versa.
    refused(verifier, sign(rsa_key, user_claims(), kid="ec1", alg="RS256"), "token_algorithm")
    refused(verifier, sign(ec_key, user_claims(), kid="rsa1", alg="ES256"), "token_algorithm")


def test_tampered_payload(verifier, ec_key):
    header, _, signature = sign(ec_key, user_claims()).split(".")
    forged = f"{header}.{b64json(user_claims(sub='user_someone_else'))}.{signature}"
    refused(verifier, forged, "token_signature")


def test_signed_by_another_key_with_a_known_kid(verifier):
    impostor = ec.generate_private_key(ec.SECP256R1())
    refused(verifier, sign(impostor, user_claims()), "token_signature")


def test_missing_kid(verifier, ec_key):
    refused(verifier, sign(ec_key, user_claims(), kid=None), "token_unknown_key")


# --- kinds and admins ----------------------------------------------------------------------


def test_verify_user_refuses_an_experiment_token(verifier, ec_key):
    with pytest.raises(TokenError) as caught:
        verifier.verify_user(sign(ec_key, experiment_claims()))
    assert (caught.value.code, caught.value.status_code) == ("token_kind", 403)


def test_verify_experiment_refuses_a_user_token(verifier, ec_key):
    with pytest.raises(TokenError) as caught:
        verifier.verify_experiment(sign(ec_key, user_claims()))
    assert (caught.value.code, caught.value.status_code) == ("token_kind", 403)


def test_is_admin(file_settings, ec_key):
    settings = file_settings(admin_user_ids=[USER_ID])
    verifier = TokenVerifier(settings)
    assert is_admin(verifier.verify(sign(ec_key, user_claims())), settings)
    assert not is_admin(verifier.verify(sign(ec_key, user_claims(sub="user_x_2"))), settings)
    assert is_admin(verifier.verify(sign(ec_key, experiment_claims())), settings)
    other = verifier.verify(sign(ec_key, experiment_claims(user_id="user_x_2")))
    assert not is_admin(other, settings)
    anonymous = verifier.verify(sign(ec_key, experiment_claims(user_id=None)))
    assert not is_admin(anonymous, settings)
    assert not is_admin(verifier.verify(sign(ec_key, user_claims())), file_settings())


# --- lifetime and leeway ------------------------------------------------------------------


def test_a_token_living_longer_than_the_maximum_is_refused(file_settings, ec_key):
    verifier = TokenVerifier(file_settings(token_max_lifetime_seconds=3600))
    now = int(time.time())
    assert verifier.verify(sign(ec_key, user_claims(iat=now, exp=now + 3600))).user_id
    for claims in (
        user_claims(iat=now, exp=now + 3601),  # issued for too long
        user_claims(iat=None, exp=now + 30 * 365 * 86400),  # no iat: from now
        user_claims(iat=now - 7200, exp=now + 60),  # old iat, short rest: still too long a life
    ):
        refused(verifier, sign(ec_key, claims), "token_lifetime")


def test_the_leeway_is_a_setting(file_settings, ec_key):
    now = int(time.time())
    just_expired = sign(ec_key, user_claims(exp=now - 20))
    assert TokenVerifier(file_settings(token_leeway_seconds=60)).verify(just_expired).user_id
    refused(TokenVerifier(file_settings(token_leeway_seconds=5)), just_expired, "token_expired")


def test_defaults_are_a_short_leeway_and_a_one_day_lifetime():
    from slices_bi.settings import Settings

    defaults = Settings(_env_file=None)
    assert defaults.token_leeway_seconds == 10
    assert defaults.token_max_lifetime_seconds == 86400
