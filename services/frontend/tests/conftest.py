"""The frontend in-process, with every service it calls unreachable (a closed port): what
it renders on its own, what it refuses, and how it degrades."""

from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from frontend_testkit import settings_for

from berth_frontend.config import FrontendSettings
from berth_frontend.main import create_app
from berth_testing.oauth import mint_access_token
from berth_testing.plugin import app_client, trust_keys
from berth_testing.processes import free_port

ISSUER = "http://localhost:8080"


@pytest.fixture(scope="session")
def down_url() -> str:
    """An address where nothing listens: auth, deploy and billing are all down."""
    return f"http://127.0.0.1:{free_port()}"


@pytest.fixture
def frontend_settings(down_url: str) -> FrontendSettings:
    return settings_for(ISSUER, down_url)


@pytest.fixture
def frontend_app(frontend_settings: FrontendSettings, public_jwks: dict[str, Any]) -> FastAPI:
    app = create_app(frontend_settings)
    trust_keys(app, public_jwks)
    return app


@pytest.fixture
async def frontend(frontend_app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with app_client(frontend_app, base_url="http://localhost:8080") as client:
        yield client


@pytest.fixture
def sign_in_as(frontend: httpx.AsyncClient, signing_jwks: dict[str, Any]) -> Callable[..., None]:
    """Give the client an access cookie as auth would issue it (no refresh cookie)."""

    def sign_in(roles: list[str] | None = None, lifetime: int = 600) -> None:
        token = mint_access_token(
            signing_jwks,
            issuer=ISSUER,
            subject="3f0c6a52-8d1e-4b8e-9a55-2b0f6c1d7e90",
            roles=roles or ["user"],
            lifetime=lifetime,
        )
        frontend.cookies.set("berth_access", token)

    return sign_in
