"""Fixtures and factories of the accounts/admin/mail tests (star-imported by conftest.py;
names carry an accounts_ prefix so they never collide with the OAuth tests' fixtures).

The database, broker vhost, signing keys and environment come from berth_common's plugin.
"""

import random
import re
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from berth_auth.config import AuthSettings
from berth_auth.models import OutgoingEmail, RefreshTokenFamily, User
from berth_auth.passwords import hash_password
from berth_auth.tokens import mint_access_token
from berth_testing.plugin import app_client, trust_keys, unique_email

__all__ = ["accounts_app", "accounts_db", "accounts_http", "accounts_settings"]

API = "/api/auth/v1"
PASSWORD = "correct horse battery"


@pytest.fixture(scope="session")
async def accounts_app(berth_env: dict[str, str], public_jwks: dict[str, Any]) -> FastAPI:
    from berth_auth.main import create_app

    return create_app()


@pytest.fixture(scope="session")
async def accounts_http(
    accounts_app: FastAPI, public_jwks: dict[str, Any]
) -> AsyncIterator[httpx.AsyncClient]:
    async with app_client(accounts_app) as client:
        trust_keys(accounts_app, public_jwks)
        yield client


@pytest.fixture(scope="session")
def accounts_db(accounts_app: FastAPI) -> async_sessionmaker[AsyncSession]:
    return accounts_app.state.db.sessionmaker


@pytest.fixture(scope="session")
def accounts_settings(accounts_app: FastAPI) -> AuthSettings:
    return accounts_app.state.settings


def random_ip() -> str:
    """A client address of its own per test, so per-IP limits never leak between tests."""
    return f"10.{random.randint(0, 255)}.{random.randint(0, 255)}.{random.randint(1, 254)}"


async def make_user(
    sm: async_sessionmaker[AsyncSession],
    *,
    email: str | None = None,
    password: str = PASSWORD,
    name: str = "Test Person",
    roles: tuple[str, ...] = ("user",),
    verified: bool = True,
    blocked: bool = False,
) -> User:
    async with sm() as session, session.begin():
        user = User(
            email=email or unique_email(),
            password_hash=hash_password(password),
            name=name,
            roles=list(roles),
            is_blocked=blocked,
            email_verified_at=datetime.now(UTC) if verified else None,
        )
        session.add(user)
        await session.flush()
        await session.refresh(user)
    return user


async def make_family(
    sm: async_sessionmaker[AsyncSession],
    user_id: uuid.UUID,
    *,
    ip: str = "192.0.2.10",
    user_agent: str = "pytest",
    revoked: bool = False,
) -> uuid.UUID:
    async with sm() as session, session.begin():
        family = RefreshTokenFamily(
            user_id=user_id,
            client_id="berth-panel",
            ip=ip,
            user_agent=user_agent,
            expires_at=datetime.now(UTC) + timedelta(days=30),
            revoked_at=datetime.now(UTC) if revoked else None,
            revoked_reason="logout" if revoked else None,
        )
        session.add(family)
        await session.flush()
        return family.id


def token_for(
    settings: AuthSettings,
    user: User,
    *,
    sid: uuid.UUID | None = None,
    roles: list[str] | None = None,
) -> str:
    return mint_access_token(
        settings,
        subject=str(user.id),
        client_id=settings.panel_client_id,
        scope="",
        roles=list(user.roles) if roles is None else roles,
        session_id=str(sid) if sid else None,
    ).token


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def emails_to(sm: async_sessionmaker[AsyncSession], address: str) -> list[OutgoingEmail]:
    """The emails queued for `address`, newest first."""
    async with sm() as session:
        rows = await session.execute(
            select(OutgoingEmail)
            .where(OutgoingEmail.to_address == address)
            .order_by(OutgoingEmail.created_at.desc())
        )
        return list(rows.scalars().all())


async def latest_code(sm: async_sessionmaker[AsyncSession], address: str, template: str) -> str:
    for email in await emails_to(sm, address):
        if email.template == template:
            match = re.search(r"^\s+(\d{6})$", email.body_text, re.M)
            assert match, "the email carries a 6-digit code"
            return match.group(1)
    raise AssertionError(f"no {template} email to {address}")


async def fetch_user(sm: async_sessionmaker[AsyncSession], user_id: uuid.UUID) -> User:
    async with sm() as session:
        user = await session.get(User, user_id)
        assert user is not None
        return user


def error_code(response: httpx.Response) -> str:
    return response.json()["error"]["code"]
