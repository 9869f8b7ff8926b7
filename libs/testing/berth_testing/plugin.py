"""Berth's pytest plugin: one database per test run migrated with Alembic (each service's
schema owned by a per-run owner role, used through a per-run runtime role), an isolated
RabbitMQ vhost, dev signing keys, the service environment, and an in-process async client.

Loaded for every test via `-p berth_testing.plugin` (root pyproject addopts).
"""

import asyncio
import base64
import json
import os
import secrets
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from asgi_lifespan import LifespanManager
from fastapi import FastAPI
from joserfc.jwk import ECKey
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

from berth_common.dbroles import (
    ServiceRoles,
    drop_roles,
    owner_url,
    provision,
    runtime_url,
    service_roles,
)
from berth_common.migrations import upgrade
from berth_common.revocation import Revocations
from berth_testing.broker import isolated_vhost
from berth_testing.processes import free_port

DEFAULT_SERVER = "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"


async def _admin_sql(server_url: str, *statements: str) -> None:
    engine = create_async_engine(server_url, isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as conn:
            for stmt in statements:
                await conn.exec_driver_sql(stmt)
    finally:
        await engine.dispose()


@pytest.fixture(scope="session")
def repo_root(pytestconfig: pytest.Config) -> Path:
    return Path(pytestconfig.rootpath)


@dataclass(frozen=True)
class PlatformDatabase:
    """A run's database: `url` as TEST_DATABASE_URL's user (tests seed and inspect with it),
    and per service schema the roles the platform's processes and migrations use."""

    url: str
    roles: dict[str, ServiceRoles]

    def runtime_url(self, schema: str) -> str:
        return runtime_url(self.url, self.roles[schema])

    def owner_url(self, schema: str) -> str:
        return owner_url(self.url, self.roles[schema])


def database_schemas(root: Path) -> list[str]:
    """Every service with migrations; its schema is named after it."""
    return sorted(ini.parent.name for ini in root.glob("services/*/alembic.ini"))


def create_platform_database(
    root: Path, prefix: str = "berth_test", server: str | None = None
) -> PlatformDatabase:
    """A new database on `server` (default: TEST_DATABASE_URL's), per-run roles for every
    service (roles are cluster-wide: the names carry the database's), every service migrated
    as its owner."""
    server = server or os.environ.get("TEST_DATABASE_URL", DEFAULT_SERVER)
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    asyncio.run(_admin_sql(server, f'CREATE DATABASE "{name}"'))
    url = make_url(server).set(database=name).render_as_string(hide_password=False)
    roles = {
        schema: service_roles(
            name,
            schema,
            owner_password=secrets.token_hex(16),
            runtime_password=secrets.token_hex(16),
        )
        for schema in database_schemas(root)
    }
    database = PlatformDatabase(url, roles)
    try:
        asyncio.run(provision(url, list(roles.values())))
        for schema in roles:
            upgrade(root / "services" / schema, database.owner_url(schema))
    except BaseException:
        drop_database(url, server)
        raise
    return database


def create_migrated_database(root: Path, prefix: str = "berth_test") -> str:
    """create_platform_database's URL, for callers that only seed and inspect."""
    return create_platform_database(root, prefix).url


async def _run_roles(server_url: str, database: str) -> list[str]:
    engine = create_async_engine(server_url)
    try:
        async with engine.connect() as conn:
            result = await conn.execute(
                text("SELECT rolname FROM pg_roles WHERE starts_with(rolname, :prefix)"),
                {"prefix": f"{database}_"},
            )
            return [row[0] for row in result]
    finally:
        await engine.dispose()


def service_credentials(database: PlatformDatabase) -> dict[str, dict[str, str]]:
    """What each service's processes connect with (Platform's `credentials`)."""
    return {schema: {"DATABASE_URL": database.runtime_url(schema)} for schema in database.roles}


def drop_database(url: str, server: str | None = None) -> None:
    """Drop a run's database, then its roles (named after it, so no other run's)."""
    server = server or os.environ.get("TEST_DATABASE_URL", DEFAULT_SERVER)
    name = make_url(url).database
    asyncio.run(_admin_sql(server, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    asyncio.run(drop_roles(server, asyncio.run(_run_roles(server, name))))


def make_signing_jwks() -> dict[str, Any]:
    key = ECKey.generate_key("P-256", auto_kid=True)
    return {"keys": [{**key.as_dict(private=True), "alg": "ES256", "use": "sig"}]}


def service_env(
    *,
    database_url: str,
    broker_url: str,
    signing_jwks: dict[str, Any],
    ports: dict[str, int],
    var: Path,
) -> dict[str, str]:
    """The environment the platform's processes get, for the given ports."""
    auth_url = f"http://127.0.0.1:{ports['auth']}"
    billing_secret, deploy_secret = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
    monitoring_secret = secrets.token_urlsafe(32)
    tickets_secret = secrets.token_urlsafe(32)
    chat_secret = secrets.token_urlsafe(32)
    return {
        "DATABASE_URL": database_url,
        "BROKER_URL": broker_url,
        "BROKER_FILESYSTEM_DIR": str(var / "broker"),
        "BERTH_PUBLIC_URL": f"http://localhost:{ports['traefik']}",
        "AUTH_URL": auth_url,
        "GATEWAY_URL": f"http://127.0.0.1:{ports['gateway']}",
        "JWKS_URL": f"{auth_url}/.well-known/jwks.json",
        "AUTH_JWT_PRIVATE_JWKS": json.dumps(signing_jwks),
        "AUTH_SECRET_KEY": secrets.token_hex(32),
        "SMTP_HOST": "127.0.0.1",
        "SMTP_PORT": str(ports["smtp"]),
        "SMTP_FROM": "Berth <no-reply@berth.localhost>",
        "BERTH_VAR_DIR": str(var),
        "LOG_LEVEL": "INFO",
        "GATEWAY_RATE_LIMIT_STORAGE_URL": "memory://",
        "BILLING_URL": f"http://127.0.0.1:{ports['billing']}",
        "DEPLOY_URL": f"http://127.0.0.1:{ports['deploy']}",
        "MONITORING_URL": f"http://127.0.0.1:{ports['monitoring']}",
        "MONITORING_TRAEFIK_ENTRY_URL": f"http://127.0.0.1:{ports['traefik']}",
        # tests serve monitor targets on 127.0.0.2 only: the platform (127.0.0.1), private
        # ranges and metadata addresses stay refused (berth_monitoring.targets)
        "MONITORING_ALLOWED_PRIVATE_NETWORKS": "127.0.0.2/32",
        "MONITORING_CHANNEL_ENCRYPTION_KEY": base64.urlsafe_b64encode(os.urandom(32)).decode(),
        "TICKETS_URL": f"http://127.0.0.1:{ports['tickets']}",
        "CHAT_URL": f"http://127.0.0.1:{ports['chat']}",
        # chat reaches agent apps through Traefik's web entry with the app's Host header
        "CHAT_TRAEFIK_ENTRY_URL": f"http://127.0.0.1:{ports['traefik']}",
        "FRONTEND_URL": f"http://127.0.0.1:{ports['frontend']}",
        "APPS_DOMAIN": "apps.localhost",
        "TRAEFIK_DYNAMIC_DIR": str(var / "traefik" / "dynamic"),
        "DEPLOY_DATA_DIR": str(var / "deploy"),
        "TICKETS_ATTACHMENTS_DIR": str(var / "tickets" / "attachments"),
        "DEPLOY_ENV_ENCRYPTION_KEY": base64.urlsafe_b64encode(os.urandom(32)).decode(),
        "BILLING_WEBHOOK_SECRET": secrets.token_hex(32),
        "FRONTEND_SECRET_KEY": secrets.token_hex(32),
        "BILLING_CLIENT_ID": "svc-billing",
        "BILLING_CLIENT_SECRET": billing_secret,
        "DEPLOY_CLIENT_ID": "svc-deploy",
        "DEPLOY_CLIENT_SECRET": deploy_secret,
        "MONITORING_CLIENT_ID": "svc-monitoring",
        "MONITORING_CLIENT_SECRET": monitoring_secret,
        "TICKETS_CLIENT_ID": "svc-tickets",
        "TICKETS_CLIENT_SECRET": tickets_secret,
        "CHAT_CLIENT_ID": "svc-chat",
        "CHAT_CLIENT_SECRET": chat_secret,
        "TICKETS_REPLY_SECRET": secrets.token_urlsafe(32),
        "TICKETS_REPLY_DOMAIN": "reply.berth.localhost",
        "TICKETS_INBOUND_PORT": str(ports["tickets_inbound"]),
        "AUTH_SERVICE_CLIENTS": json.dumps(
            [
                {
                    "client_id": "svc-billing",
                    "secret": billing_secret,
                    "scopes": ["auth:read", "deploy:read"],
                },
                {
                    "client_id": "svc-deploy",
                    "secret": deploy_secret,
                    "scopes": ["auth:read", "billing:read"],
                },
                {
                    "client_id": "svc-monitoring",
                    "secret": monitoring_secret,
                    "scopes": ["auth:read", "deploy:read"],
                },
                {
                    "client_id": "svc-tickets",
                    "secret": tickets_secret,
                    "scopes": ["auth:read", "deploy:read", "billing:read", "monitoring:read"],
                },
                {
                    "client_id": "svc-chat",
                    "secret": chat_secret,
                    "scopes": ["auth:read", "deploy:read", "tickets:write"],
                },
            ]
        ),
    }


PORT_NAMES = (
    "registry",  # an OCI registry for container tests (berth_testing.registry)
    "traefik",
    "traefik_api",
    "gateway",
    "auth",
    "billing",
    "deploy",
    "monitoring",
    "tickets",
    "tickets_inbound",
    "chat",
    "frontend",
    "smtp",
)


@pytest.fixture(scope="session")
def platform_database(repo_root: Path) -> Iterator[PlatformDatabase]:
    """A fresh database for this run with every service's roles and migrations."""
    database = create_platform_database(repo_root)
    try:
        yield database
    finally:
        if not os.environ.get("BERTH_KEEP_TEST_DB"):
            drop_database(database.url)


@pytest.fixture(scope="session")
def database_url(platform_database: PlatformDatabase) -> str:
    """The run's database as the server's own user: in-process apps, seeding, inspection."""
    return platform_database.url


@pytest.fixture(scope="session")
def broker_url() -> Iterator[str]:
    """The broker of the in-process tests of this run."""
    with isolated_vhost() as url:
        yield url


@pytest.fixture(scope="session")
def signing_jwks() -> dict[str, Any]:
    return make_signing_jwks()


@pytest.fixture(scope="session")
def public_jwks(signing_jwks: dict[str, Any]) -> dict[str, Any]:
    private_only = {"d"}
    return {
        "keys": [
            {k: v for k, v in key.items() if k not in private_only} for key in signing_jwks["keys"]
        ]
    }


@pytest.fixture(scope="session")
def platform_ports() -> dict[str, int]:
    """Ports for processes started by end-to-end tests, chosen once per run."""
    return {name: free_port() for name in PORT_NAMES}


@pytest.fixture(scope="session")
def berth_env(
    database_url: str,
    broker_url: str,
    signing_jwks: dict[str, Any],
    platform_ports: dict[str, int],
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[dict[str, str]]:
    """The environment every service process of this run gets (and this process too)."""
    var = tmp_path_factory.mktemp("var")
    env = service_env(
        database_url=database_url,
        broker_url=broker_url,
        signing_jwks=signing_jwks,
        ports=platform_ports,
        var=var,
    )
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    # in-process tests start their own SMTP sinks; keep them off the platform sink's port
    os.environ["SMTP_PORT"] = str(free_port())
    yield {**os.environ, **env}
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


def trust_keys(app: FastAPI, public_jwks: dict[str, Any]) -> None:
    """Point an in-process app's token verifier at the run's keys (no network), with an
    empty revocation list as loaded (the app's own feed keeps it current if it can)."""
    verifier = app.state.token_verifier
    verifier.jwks.load(public_jwks)
    if verifier.denylist is not None and not verifier.denylist.loaded:
        verifier.denylist.load(Revocations())


@asynccontextmanager
async def app_client(
    app: FastAPI, base_url: str = "http://testserver"
) -> AsyncIterator[httpx.AsyncClient]:
    """Drive an app in-process with its lifespan (startup/shutdown) run."""
    async with LifespanManager(app, startup_timeout=30, shutdown_timeout=30) as manager:
        transport = httpx.ASGITransport(app=manager.app)
        async with httpx.AsyncClient(transport=transport, base_url=base_url) as client:
            yield client


def unique_email(prefix: str = "user") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}@example.test"
