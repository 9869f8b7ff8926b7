"""Signing-key configuration: rotation-friendly JWKS and refusal of unusable key sets."""

import json

import pytest
from joserfc import jws
from joserfc.jwk import ECKey, RSAKey

from berth_auth.config import AuthSettings
from berth_auth.tokens import KeyConfigError, SigningKeys, mint_access_token
from berth_common.errors import Unauthorized
from berth_common.security import JWKSCache, TokenVerifier
from berth_testing.plugin import make_signing_jwks


def _settings(jwks: object) -> AuthSettings:
    raw = jwks if isinstance(jwks, str) else json.dumps(jwks)
    return AuthSettings(AUTH_JWT_PRIVATE_JWKS=raw, AUTH_SECRET_KEY="s" * 32)  # type: ignore[call-arg]


async def test_first_key_signs_and_every_key_is_published():
    new, old = make_signing_jwks()["keys"][0], make_signing_jwks()["keys"][0]
    settings = _settings({"keys": [new, old]})
    keys = SigningKeys.from_settings(settings)
    assert [k["kid"] for k in keys.public_jwks["keys"]] == [new["kid"], old["kid"]]
    assert all("d" not in k for k in keys.public_jwks["keys"])

    token = mint_access_token(
        settings, subject="svc", client_id="svc", scope="deploy:read", roles=[]
    ).token
    header = jws.extract_compact(token.encode()).protected
    assert header == {"alg": "ES256", "typ": "at+jwt", "kid": new["kid"]}

    # a verifier that only knows the old key (before rotation) cannot accept it
    only_old = JWKSCache("http://unused.invalid")
    only_old.load({"keys": [keys.public_jwks["keys"][1]]})
    verifier = TokenVerifier(only_old, settings.issuer, settings.token_audience)
    verifier.jwks.min_refetch = 1e9  # never try the network
    with pytest.raises(Unauthorized, match="Invalid or expired"):
        await verifier.verify(token)


@pytest.mark.parametrize(
    "jwks",
    [
        "not json",
        {"keys": []},
        {"nokeys": 1},
        {"keys": [{k: v for k, v in ECKey.generate_key("P-256").as_dict().items() if k != "d"}]},
        {"keys": [ECKey.generate_key("P-384", auto_kid=True).as_dict(private=True)]},
        {"keys": [RSAKey.generate_key(2048, auto_kid=True).as_dict(private=True)]},
        {
            "keys": [
                {**ECKey.generate_key("P-256").as_dict(private=True), "kid": "same"},
                {**ECKey.generate_key("P-256").as_dict(private=True), "kid": "same"},
            ]
        },
    ],
)
def test_unusable_key_sets_are_refused(jwks):
    with pytest.raises(KeyConfigError):
        SigningKeys.from_settings(_settings(jwks))


def test_a_key_without_kid_is_published_under_its_thumbprint():
    key = ECKey.generate_key("P-256")
    keys = SigningKeys.from_settings(_settings({"keys": [key.as_dict(private=True)]}))
    assert keys.public_jwks["keys"][0]["kid"] == key.thumbprint()
