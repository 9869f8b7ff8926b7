"""Fixtures and factories of the monitors' in-process tests (star-imported by conftest.py).

The database, broker vhost, signing keys and environment come from berth_testing's plugin;
each test makes its own people (random user ids), so tests never see each other's monitors.
"""

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from berth_monitoring.config import MonitoringSettings
from berth_testing.people import Person, sql
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


@pytest.fixture
def person(signing_jwks):
    """A factory of people: person() -> Person."""
    return lambda roles=None: Person(signing_jwks, roles)


@pytest.fixture
def admin(signing_jwks) -> Person:
    return Person(signing_jwks, ["user", "admin"])
