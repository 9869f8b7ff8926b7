"""Signing keys, the published JWKS, and access-token minting (RFC 9068 profile).

Keys come from ``AUTH_JWT_PRIVATE_JWKS``: a JWK Set of EC P-256 private keys, each with a
unique ``kid`` (joserfc gives a key without one its RFC 7638 thumbprint). The first key
signs; every configured key is published, so a key can be rotated in (added second, then
moved first) without invalidating tokens that are still alive.
"""

import json
import time
import uuid
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from joserfc import jws, jwt
from joserfc.errors import JoseError
from joserfc.jwk import ECKey, KeySet

from berth_auth.config import AuthSettings
from berth_common.security import ALLOWED_ALGORITHMS, JWKSCache

SIGNING_ALG = "ES256"
TOKEN_TYP = "at+jwt"


class KeyConfigError(ValueError):
    """AUTH_JWT_PRIVATE_JWKS is not a usable set of P-256 private keys."""


@dataclass(frozen=True)
class SigningKeys:
    signing_key: ECKey
    key_set: KeySet
    public_jwks: dict[str, Any]

    @classmethod
    def from_settings(cls, settings: AuthSettings) -> "SigningKeys":
        return _load_keys(settings.jwt_private_jwks.get_secret_value())


@lru_cache(maxsize=4)
def _load_keys(raw: str) -> SigningKeys:
    try:
        data = json.loads(raw)
    except ValueError as exc:
        raise KeyConfigError("AUTH_JWT_PRIVATE_JWKS is not valid JSON") from exc
    if not isinstance(data, dict) or not isinstance(data.get("keys"), list) or not data["keys"]:
        raise KeyConfigError('AUTH_JWT_PRIVATE_JWKS must be {"keys": [...]} with at least one key')
    try:
        key_set = KeySet.import_key_set(data)
    except (JoseError, ValueError, TypeError, KeyError) as exc:
        raise KeyConfigError("AUTH_JWT_PRIVATE_JWKS holds an unreadable key") from exc
    public: list[dict[str, Any]] = []
    kids: set[str] = set()
    for key in key_set.keys:
        if not isinstance(key, ECKey) or key.get("crv") != "P-256" or not key.is_private:
            raise KeyConfigError("every signing key must be an EC P-256 private key")
        if not key.kid or key.kid in kids:
            raise KeyConfigError("every signing key needs a unique kid")
        kids.add(key.kid)
        public.append({**key.as_dict(private=False), "use": "sig", "alg": SIGNING_ALG})
    signing = key_set.keys[0]
    assert isinstance(signing, ECKey)
    return SigningKeys(signing_key=signing, key_set=key_set, public_jwks={"keys": public})


@dataclass(frozen=True)
class AccessToken:
    token: str
    claims: dict[str, Any]
    expires_in: int


def mint_access_token(
    settings: AuthSettings,
    *,
    subject: str,
    client_id: str,
    scope: str,
    roles: list[str],
    session_id: str | None = None,
    issued_at: int | None = None,
) -> AccessToken:
    """A signed JWT access token; ``session_id`` (the refresh family) only for people;
    ``issued_at`` when it must not be now (a person's tokens never predate their
    not-before, see berth_auth.revocations)."""
    keys = SigningKeys.from_settings(settings)
    now = int(time.time()) if issued_at is None else issued_at
    expires_in = settings.access_token_expire_minutes * 60
    claims: dict[str, Any] = {
        "iss": settings.issuer,
        "aud": settings.token_audience,
        "sub": subject,
        "client_id": client_id,
        "iat": now,
        "exp": now + expires_in,
        "jti": str(uuid.uuid4()),
        "scope": scope,
        "roles": sorted(roles),
    }
    if session_id is not None:
        claims["sid"] = session_id
    header = {"alg": SIGNING_ALG, "typ": TOKEN_TYP, "kid": keys.signing_key.kid}
    token = jwt.encode(header, claims, keys.signing_key, algorithms=[SIGNING_ALG])
    return AccessToken(token=token, claims=claims, expires_in=expires_in)


def decode_access_token(settings: AuthSettings, token: str) -> dict[str, Any] | None:
    """Claims of a valid (signature, typ, iss, aud, exp) access token of ours, else None."""
    keys = SigningKeys.from_settings(settings)
    try:
        header = jws.extract_compact(token.encode("ascii")).protected
        if header.get("typ", "").lower() not in (TOKEN_TYP, "application/at+jwt"):
            return None
        decoded = jwt.decode(token, keys.key_set, algorithms=ALLOWED_ALGORITHMS)
        jwt.JWTClaimsRegistry(
            # 1 s: a person's token may be issued up to a second ahead (their not-before)
            leeway=1,
            iss={"essential": True, "value": settings.issuer},
            aud={"essential": True, "value": settings.token_audience},
            exp={"essential": True},
            sub={"essential": True},
            client_id={"essential": True},
            jti={"essential": True},
        ).validate(decoded.claims)
    except (JoseError, ValueError, TypeError, UnicodeError):
        return None
    return dict(decoded.claims)


class LocalJWKS(JWKSCache):
    """The auth service verifies its own tokens with its own public keys: no HTTP round trip."""

    def __init__(self, settings: AuthSettings):
        super().__init__(url="local:", ttl_seconds=settings.jwks_cache_seconds)
        self.load(SigningKeys.from_settings(settings).public_jwks)

    async def key_set(self, kid: str | None) -> KeySet:
        assert self._keys is not None
        return self._keys
