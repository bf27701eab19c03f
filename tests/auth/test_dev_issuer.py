"""The dev issuer: key file, JWKS, minting, verification round-trips, refusal when off."""

from __future__ import annotations

import re
import stat
from datetime import UTC, datetime, timedelta

import jwt
import pytest
from cryptography.hazmat.primitives import serialization

from slices_bi.auth import (
    DevIssuerDisabled,
    ExperimentIdentity,
    TokenError,
    TokenVerifier,
    UserIdentity,
    dev_issuer_url,
    dev_jwks,
    mint_experiment_token,
    mint_user_token,
)
from slices_bi.auth.dev_issuer import dev_key_path

from .helpers import ISSUER, PUBLIC_URL, make_settings, sign, user_claims

SUFFIX = r"[0-7][0-9a-hjkmnp-tv-z]{25}"


@pytest.fixture
def dev_settings(tmp_path):
    return make_settings(tmp_path, dev_issuer=True)


def test_key_file_is_created_private_and_reused(dev_settings):
    path = dev_key_path(dev_settings)
    assert not path.exists()
    jwks = dev_jwks(dev_settings)
    assert path == dev_settings.data_dir / "dev-issuer" / "key.pem"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert dev_jwks(dev_settings) == jwks
    (key,) = jwks["keys"]
    assert {key["kty"], key["crv"], key["alg"], key["use"]} == {"EC", "P-256", "ES256", "sig"}
    assert re.fullmatch(r"[A-Za-z0-9_-]{43}", key["kid"])
    assert "d" not in key


def test_user_token_round_trip(dev_settings):
    token = mint_user_token(dev_settings)
    header = jwt.get_unverified_header(token)
    assert header["alg"] == "ES256"
    assert header["kid"] == dev_jwks(dev_settings)["keys"][0]["kid"]
    identity = TokenVerifier(dev_settings).verify_user(token)
    assert re.fullmatch(rf"user_dev\.slices-bi_{SUFFIX}", identity.user_id)
    assert identity.claims["iss"] == dev_issuer_url(dev_settings) == f"{PUBLIC_URL}/dev-issuer"
    assert identity.claims["aud"] == PUBLIC_URL
    assert identity.claims["scope"] == "openid userinfo projects"
    assert 3590 <= identity.claims["exp"] - identity.claims["iat"] <= 3600


def test_user_token_with_given_user(dev_settings):
    token = mint_user_token(dev_settings, user_id="user_x_1", ttl_seconds=60)
    assert TokenVerifier(dev_settings).verify(token) == UserIdentity("user_x_1", claims={})


def test_experiment_token_round_trip(dev_settings):
    expires = datetime(2031, 1, 2, 3, 4, 5, tzinfo=UTC)
    token = mint_experiment_token(
        dev_settings,
        experiment_id="exp_x_1",
        project_id="proj_x_1",
        experiment_expires_at=expires,
        user_id="user_x_1",
    )
    identity = TokenVerifier(dev_settings).verify_experiment(token)
    assert identity == ExperimentIdentity("exp_x_1", "proj_x_1", expires, "user_x_1", claims={})
    assert identity.claims["exp"] - identity.claims["iat"] == 900


def test_experiment_token_defaults(dev_settings):
    before = datetime.now(UTC).replace(microsecond=0)
    identity = TokenVerifier(dev_settings).verify(mint_experiment_token(dev_settings))
    after = datetime.now(UTC)
    assert isinstance(identity, ExperimentIdentity)
    assert re.fullmatch(rf"exp_dev\.slices-bi_{SUFFIX}", identity.experiment_id)
    assert identity.project_id is not None
    assert re.fullmatch(rf"proj_dev\.slices-bi_{SUFFIX}", identity.project_id)
    assert identity.expires_at is not None
    # Whole seconds in the token: between a week after the call began and a week after it ended.
    assert before + timedelta(days=7) <= identity.expires_at <= after + timedelta(days=7)


def test_experiment_token_uses_the_configured_claim_names(tmp_path):
    settings = make_settings(
        tmp_path, dev_issuer=True, experiment_claim="xp", experiment_project_claim="prj"
    )
    token = mint_experiment_token(settings, experiment_id="xp_a_1", project_id="p")
    claims = jwt.decode(token, options={"verify_signature": False})
    assert (claims["xp"], claims["prj"]) == ("xp_a_1", "p")
    assert TokenVerifier(settings).verify_experiment(token).experiment_id == "xp_a_1"


def test_mint_rejects_bad_arguments(dev_settings):
    with pytest.raises(ValueError, match="experiment id"):
        mint_experiment_token(dev_settings, experiment_id="user_x_1")
    with pytest.raises(ValueError, match="timezone"):
        mint_experiment_token(dev_settings, experiment_expires_at=datetime(2031, 1, 1))
    with pytest.raises(ValueError, match="ttl"):
        mint_user_token(dev_settings, ttl_seconds=0)


def test_dev_issuer_off_refuses_to_mint_and_to_verify(tmp_path, jwks_file):
    on = make_settings(tmp_path, dev_issuer=True)
    token = mint_user_token(on)
    off = make_settings(tmp_path, dev_issuer=False, jwks_file=jwks_file)
    with pytest.raises(DevIssuerDisabled, match="SLICES_BI_DEV_ISSUER"):
        mint_user_token(off)
    with pytest.raises(DevIssuerDisabled):
        mint_experiment_token(off)
    with pytest.raises(DevIssuerDisabled):
        dev_jwks(off)
    with pytest.raises(TokenError) as caught:
        TokenVerifier(off).verify(token)
    assert caught.value.code == "token_unknown_key"


def test_dev_key_cannot_sign_for_the_portal(dev_settings):
    dev_jwks(dev_settings)
    key = serialization.load_pem_private_key(dev_key_path(dev_settings).read_bytes(), None)
    kid = dev_jwks(dev_settings)["keys"][0]["kid"]
    with pytest.raises(TokenError) as caught:
        TokenVerifier(dev_settings).verify(sign(key, user_claims(iss=ISSUER), kid=kid))
    assert caught.value.code == "token_issuer"


def test_portal_key_cannot_sign_for_the_dev_issuer(tmp_path, jwks_file, ec_key):
    settings = make_settings(tmp_path, dev_issuer=True, jwks_file=jwks_file)
    verifier = TokenVerifier(settings)
    assert verifier.verify(sign(ec_key, user_claims())).claims["iss"] == ISSUER
    assert verifier.verify(mint_user_token(settings)).claims["iss"].endswith("/dev-issuer")
    forged = sign(ec_key, user_claims(iss=dev_issuer_url(settings)))
    with pytest.raises(TokenError) as caught:
        verifier.verify(forged)
    assert caught.value.code == "token_issuer"
