"""Wiring a service's web process: database, outbox relay, token verifier, readiness."""

from collections.abc import Sequence
from typing import Any

from fastapi import APIRouter, FastAPI
from sqlalchemy import MetaData

from berth_common.app import Hook, ReadyCheck, create_service_app
from berth_common.broker import make_publisher
from berth_common.config import ServiceSettings
from berth_common.db import Database
from berth_common.outbox import OutboxRelay
from berth_common.security import JWKSCache, TokenVerifier


def make_verifier(settings: ServiceSettings) -> TokenVerifier:
    return TokenVerifier(
        JWKSCache(settings.jwks_url, settings.jwks_cache_seconds),
        issuer=settings.issuer,
        audience=settings.token_audience,
    )


def build_service(
    settings: ServiceSettings,
    *,
    title: str,
    schema: str,
    metadata: MetaData,
    routers: Sequence[APIRouter],
    verifier: TokenVerifier | None = None,
    on_startup: Sequence[Hook] = (),
    on_shutdown: Sequence[Hook] = (),
    extra_ready: Sequence[ReadyCheck] = (),
    **kwargs: Any,
) -> FastAPI:
    db = Database(settings.database_url, schema, metadata=metadata, pool_size=settings.db_pool_size)
    publisher = make_publisher(settings.broker_url, settings.broker_filesystem_dir, (schema,))
    relay = OutboxRelay(db.sessionmaker, metadata, schema, publisher)

    async def database() -> None:
        await db.ping()

    async def broker() -> None:
        await publisher.ping()

    async def start(app: FastAPI) -> None:
        app.state.db = db
        app.state.outbox_relay = relay
        app.state.token_verifier = verifier or make_verifier(settings)
        relay.start()

    async def stop(app: FastAPI) -> None:
        await relay.stop()
        await publisher.close()
        await db.dispose()

    app = create_service_app(
        settings,
        title=title,
        routers=routers,
        ready_checks=[database, broker, *extra_ready],
        on_startup=[start, *on_startup],
        on_shutdown=[*on_shutdown, stop],
        **kwargs,
    )
    # set eagerly too, so tests that skip the lifespan still find them
    app.state.db = db
    app.state.outbox_relay = relay
    app.state.token_verifier = verifier or make_verifier(settings)
    return app
