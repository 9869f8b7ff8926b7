"""A service's token check remembers verified tokens briefly (no second signature check), but
revocation still refuses a remembered token at once, and nothing outlives the token's exp."""

import time
import uuid

import pytest
from joserfc import jwt
from joserfc.jwk import ECKey, KeySet

from berth_common.errors import ServiceUnavailable, Unauthorized
from berth_common.revocation import Denylist, Revocations
from berth_common.security import JWKSCache, RememberedTokens, TokenVerifier

ISSUER = "http://localhost:8080"


@pytest.fixture(scope="module")
def key() -> ECKey:
    return ECKey.generate_key("P-256", auto_kid=True)


def token(key: ECKey, *, sub: str = "u-1", sid: str = "family-1", iat: int | None = None) -> str:
    now = int(time.time())
    claims = {
        "iss": ISSUER,
        "aud": "berth",
        "sub": sub,
        "client_id": "berth-panel",
        "iat": now if iat is None else iat,
        "exp": now + 300,
        "jti": uuid.uuid4().hex,
        "sid": sid,
        "roles": ["user"],
    }
    return jwt.encode({"alg": "ES256", "typ": "at+jwt", "kid": key.kid}, claims, key)


class KeysGone(JWKSCache):
    """A key set that cannot be had any more: only a remembered token can still pass."""

    async def key_set(self, kid: str | None) -> KeySet:
        raise ServiceUnavailable("Token keys unavailable")


def verifier(key: ECKey, cache_seconds: float = 30, cache_size: int = 100) -> TokenVerifier:
    jwks = JWKSCache("http://127.0.0.1:1/jwks")
    jwks.load(KeySet([key]).as_dict(private=False))
    denylist = Denylist()
    denylist.load(Revocations())
    return TokenVerifier(
        jwks,
        issuer=ISSUER,
        audience="berth",
        denylist=denylist,
        cache_seconds=cache_seconds,
        cache_size=cache_size,
    )


def revoked(**entries: list[dict]) -> Revocations:
    until = int(time.time()) + 600
    return Revocations.model_validate(
        {kind: [{"until": until, **entry} for entry in items] for kind, items in entries.items()}
    )


async def test_a_verified_token_is_remembered_and_a_new_one_is_not(key):
    check = verifier(key)
    known = token(key)
    first = await check.verify(known)
    check.jwks = KeysGone(check.jwks.url)  # a signature check now fails
    assert await check.verify(known) == first
    with pytest.raises(ServiceUnavailable):
        await check.verify(token(key))


async def test_without_a_cache_every_call_checks_the_signature(key):
    check = verifier(key, cache_seconds=0)
    known = token(key)
    await check.verify(known)
    check.jwks = KeysGone(check.jwks.url)
    with pytest.raises(ServiceUnavailable):
        await check.verify(known)


async def test_a_bad_token_is_never_remembered(key):
    check = verifier(key)
    forged = token(key)[:-4] + "AAAA"
    for _ in range(2):
        with pytest.raises(Unauthorized):
            await check.verify(forged)
    assert len(check.verified) == 0


async def test_a_revoked_session_is_refused_at_once_though_remembered(key):
    check = verifier(key)
    known, other = token(key, sid="family-1"), token(key, sid="family-2")
    await check.verify(known)
    await check.verify(other)
    check.denylist.merge(revoked(sessions=[{"id": "family-1"}]))
    with pytest.raises(Unauthorized, match="revoked"):
        await check.verify(known)
    assert (await check.verify(other)).session_id == "family-2"


async def test_a_users_earlier_tokens_are_refused_at_once_though_remembered(key):
    check = verifier(key)
    known = token(key, sub="u-6")
    await check.verify(known)
    not_before = int(time.time()) + 1  # e.g. the user was blocked just now
    check.denylist.merge(revoked(users=[{"id": "u-6", "not_before": not_before}]))
    with pytest.raises(Unauthorized, match="revoked"):
        await check.verify(known)
    fresh = token(key, sub="u-6", iat=not_before)
    assert (await check.verify(fresh)).subject == "u-6"


def test_nothing_is_kept_past_the_tokens_expiry():
    remembered: RememberedTokens[str] = RememberedTokens(seconds=300, size=10)
    remembered.put("short-lived", "principal", expires_at=int(time.time()) + 1)
    assert remembered.get("short-lived") == "principal"
    time.sleep(1.1)
    assert remembered.get("short-lived") is None
    assert len(remembered) == 0


def test_nothing_is_kept_past_the_cache_time():
    remembered: RememberedTokens[str] = RememberedTokens(seconds=0.2, size=10)
    remembered.put("token", "principal", expires_at=int(time.time()) + 300)
    time.sleep(0.3)
    assert remembered.get("token") is None


def test_the_oldest_entry_makes_room():
    remembered: RememberedTokens[int] = RememberedTokens(seconds=300, size=2)
    expires = int(time.time()) + 300
    for n in range(3):
        remembered.put(f"token-{n}", n, expires)
    assert [remembered.get(f"token-{n}") for n in range(3)] == [None, 1, 2]
