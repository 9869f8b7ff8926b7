"""Fixtures and factories of the monitors' in-process tests (star-imported by conftest.py).

The database, broker vhost, signing keys and environment come from berth_testing's plugin;
each test makes its own people (random user ids), so tests never see each other's monitors.
"""

import os
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from berth_monitoring.config import MonitoringSettings
from berth_testing.oauth import bearer, mint_access_token
from berth_testing.plugin import app_client, trust_keys

__all__ = [
    "API",
    "Person",
    "admin",
    "monitoring_app",
    "monitoring_db",
    "monitoring_http",
    "monitoring_settings",
    "person",
    "sql",
]

API = "/api/monitoring/v1"


@pytest.fixture(scope="session")
async def monitoring_app(berth_env: dict[str, str]) -> FastAPI:
    from berth_monitoring.main import create_app

    return create_app(MonitoringSettings())


@pytest.fixture(scope="session")
async def monitoring_http(
    monitoring_app: FastAPI, public_jwks: dict[str, Any]
) -> AsyncIterator[httpx.AsyncClient]:
    async with app_client(monitoring_app) as client:
        trust_keys(monitoring_app, public_jwks)
        yield client


@pytest.fixture(scope="session")
def monitoring_db(monitoring_http, monitoring_app: FastAPI) -> async_sessionmaker[AsyncSession]:
    return monitoring_app.state.db.sessionmaker


@pytest.fixture(scope="session")
def monitoring_settings(monitoring_app: FastAPI) -> MonitoringSettings:
    return monitoring_app.state.settings


class Person:
    """A signed-in person as the monitoring API sees them: a user id and a token."""

    def __init__(self, signing_jwks: dict, roles: list[str] | None = None):
        self.id = uuid.uuid4()
        self.token = mint_access_token(
            signing_jwks,
            issuer=os.environ["BERTH_PUBLIC_URL"],
            subject=str(self.id),
            roles=roles or ["user"],
        )
        self.headers = bearer(self.token)


@pytest.fixture
def person(signing_jwks):
    """A factory of people: person() -> Person."""
    return lambda roles=None: Person(signing_jwks, roles)


@pytest.fixture
def admin(signing_jwks) -> Person:
    return Person(signing_jwks, ["user", "admin"])


async def sql(db: async_sessionmaker[AsyncSession], statement: str, **params) -> list:
    async with db() as session, session.begin():
        result = await session.execute(text(statement), params)
        return list(result.all()) if result.returns_rows else []
