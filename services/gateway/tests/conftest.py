"""Signed test tokens (our own ES256 keys) and a gateway app that trusts them."""

from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest
from gateway_testkit import TokenFactory, gateway_settings, sign_token
from joserfc.jwk import ECKey

from berth_common.revocation import Denylist, Revocations
from berth_common.security import JWKSCache
from berth_gateway.main import create_app


@pytest.fixture(scope="session")
def signing_key() -> ECKey:
    return ECKey.generate_key("P-256", auto_kid=True)


@pytest.fixture(scope="session")
def other_key() -> ECKey:
    """A key the gateway has never seen (tokens signed with it must be refused)."""
    return ECKey.generate_key("P-256", auto_kid=True)


@pytest.fixture(scope="session")
def jwks_document(signing_key: ECKey) -> dict[str, Any]:
    return {"keys": [signing_key.as_dict(private=False)]}


@pytest.fixture
def make_token(signing_key: ECKey) -> TokenFactory:
    def make(**kwargs: Any) -> str:
        return sign_token(signing_key, **kwargs)

    return make


@pytest.fixture
def denylist() -> Denylist:
    """The test gateways' revocation list, loaded (empty) as if from auth; tests add to it."""
    revoked = Denylist()
    revoked.load(Revocations())
    return revoked


@pytest.fixture
def gateway_factory(
    jwks_document: dict[str, Any], denylist: Denylist
) -> Callable[..., httpx.AsyncClient]:
    """An httpx client on a fresh gateway app whose key cache already holds the test keys."""

    def build(**overrides: Any) -> httpx.AsyncClient:
        jwks = JWKSCache(
            "http://127.0.0.1:9/.well-known/jwks.json", ttl_seconds=3600, min_refetch_seconds=3600
        )
        jwks.load(jwks_document)
        app = create_app(gateway_settings(**overrides), jwks=jwks, denylist=denylist)
        return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gateway")

    return build


@pytest.fixture
async def gateway(
    gateway_factory: Callable[..., httpx.AsyncClient],
) -> AsyncIterator[httpx.AsyncClient]:
    async with gateway_factory() as client:
        yield client
