"""Fixtures and factories of the OAuth tests (star-imported by conftest.py; fixture names
carry an oauth_ prefix so they never collide with the accounts tests' fixtures).

The database, broker vhost, signing keys and environment come from berth_common's plugin.
"""

import random
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from berth_auth.clients.service import create_machine_client, ensure_panel_client
from berth_auth.config import AuthSettings
from berth_auth.models import LoginEvent, OAuthClient, RefreshTokenFamily, User
from berth_auth.passwords import hash_password
from berth_common.security import JWKSCache, Principal, TokenVerifier
from berth_testing.plugin import app_client, unique_email

__all__ = ["oauth_app", "oauth_db", "oauth_http", "oauth_settings"]

PANEL = "berth-panel"
PASSWORD = "correct horse battery"
# small limits of this app, so brute-force protection shows within a test
MAX_PER_ACCOUNT = 5  # per (account, address)
MAX_PER_IP = 8
BACKSTOP = 8  # wrong guesses at one account from anywhere before each attempt waits
BACKSTOP_DELAY = 0.5


@pytest.fixture(scope="session")
async def oauth_app(berth_env: dict[str, str]) -> FastAPI:
    from berth_auth.main import create_app

    settings = AuthSettings(  # type: ignore[call-arg]
        login_max_failures_per_account_ip=MAX_PER_ACCOUNT,
        login_max_failures_per_account=MAX_PER_ACCOUNT,
        login_max_failures_per_ip=MAX_PER_IP,
        login_backstop_failures=BACKSTOP,
        login_backstop_delay_seconds=BACKSTOP_DELAY,
    )
    app = create_app(settings)
    async with app.state.db.sessionmaker() as session, session.begin():
        await ensure_panel_client(session, settings.panel_client_id)
    return app


@pytest.fixture(scope="session")
async def oauth_http(oauth_app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with app_client(oauth_app) as client:
        yield client


@pytest.fixture(scope="session")
def oauth_db(oauth_app: FastAPI) -> async_sessionmaker[AsyncSession]:
    return oauth_app.state.db.sessionmaker


@pytest.fixture(scope="session")
def oauth_settings(oauth_app: FastAPI) -> AuthSettings:
    return oauth_app.state.settings


def random_ip() -> str:
    """A client address of its own per test, so per-IP limits never leak between tests."""
    return f"10.{random.randint(0, 255)}.{random.randint(0, 255)}.{random.randint(1, 254)}"


async def make_person(
    sm: async_sessionmaker[AsyncSession],
    *,
    password: str = PASSWORD,
    roles: tuple[str, ...] = ("user",),
    verified: bool = True,
    blocked: bool = False,
    password_hash: str | None = None,
) -> User:
    async with sm() as session, session.begin():
        user = User(
            email=unique_email("oauth"),
            password_hash=password_hash or hash_password(password),
            name="OAuth Person",
            roles=list(roles),
            is_blocked=blocked,
            email_verified_at=datetime.now(UTC) if verified else None,
        )
        session.add(user)
        await session.flush()
        await session.refresh(user)
    return user


async def make_machine(
    sm: async_sessionmaker[AsyncSession], scopes: list[str], *, name: str = "test team"
) -> tuple[str, str]:
    """(client_id, client_secret) of a new machine client."""
    async with sm() as session, session.begin():
        issued = await create_machine_client(
            session, name=name, scopes=scopes, actor_id=str(uuid.uuid4())
        )
        return issued.client.client_id, issued.client_secret


async def login(
    http: httpx.AsyncClient,
    email: str,
    password: str = PASSWORD,
    *,
    ip: str | None = None,
    **extra: str,
) -> httpx.Response:
    headers = {"X-Forwarded-For": ip or random_ip(), "User-Agent": "oauth-tests/1.0"}
    data = {"grant_type": "password", "username": email, "password": password, "client_id": PANEL}
    return await http.post("/oauth/token", data={**data, **extra}, headers=headers)


async def refresh(http: httpx.AsyncClient, token: str, **extra: str) -> httpx.Response:
    data = {"grant_type": "refresh_token", "refresh_token": token, "client_id": PANEL}
    return await http.post("/oauth/token", data={**data, **extra})


async def verify_with_published_keys(
    http: httpx.AsyncClient, settings: AuthSettings, token: str
) -> Principal:
    """What any other Berth service sees: verification against the published JWKS."""
    jwks = JWKSCache("http://unused.invalid/jwks.json")
    jwks.load((await http.get("/.well-known/jwks.json")).json())
    return await TokenVerifier(jwks, settings.issuer, settings.token_audience).verify(token)


async def login_events(sm: async_sessionmaker[AsyncSession], email: str) -> list[LoginEvent]:
    async with sm() as session:
        rows = await session.execute(
            select(LoginEvent).where(LoginEvent.email == email).order_by(LoginEvent.created_at)
        )
        return list(rows.scalars().all())


async def family_of(sm: async_sessionmaker[AsyncSession], sid: str) -> RefreshTokenFamily:
    async with sm() as session:
        family = await session.get(RefreshTokenFamily, uuid.UUID(sid))
        assert family is not None
        return family


async def load(sm: async_sessionmaker[AsyncSession], model: Any, key: Any) -> Any:
    async with sm() as session:
        return await session.get(model, key)


async def client_row(sm: async_sessionmaker[AsyncSession], client_id: str) -> OAuthClient:
    async with sm() as session:
        row = await session.execute(select(OAuthClient).where(OAuthClient.client_id == client_id))
        return row.scalars().one()
