"""Wiring a service's web process: database, outbox relay, token verifier, revocations,
readiness."""

from collections.abc import Callable, Sequence
from typing import Any

from fastapi import APIRouter, FastAPI
from sqlalchemy import MetaData

from berth_common.app import Hook, ReadyCheck, create_service_app
from berth_common.broker import make_publisher
from berth_common.config import ServiceSettings
from berth_common.db import Database
from berth_common.errors import ServiceUnavailable
from berth_common.outbox import OutboxRelay
from berth_common.revocation import Denylist, Loader, RevocationFeed, http_loader
from berth_common.routing import ensure_guarded
from berth_common.security import JWKSCache, TokenVerifier


def make_verifier(settings: ServiceSettings) -> TokenVerifier:
    return TokenVerifier(
        JWKSCache(settings.jwks_url, settings.jwks_cache_seconds),
        issuer=settings.issuer,
        audience=settings.token_audience,
        denylist=Denylist(),
        cache_seconds=settings.token_cache_seconds,
        cache_size=settings.token_cache_size,
    )


class RevocationSync:
    """A web process's part in token revocation: its verifier's denylist, kept current by a
    feed from auth; lifespan hooks and a readiness check for the app factory."""

    def __init__(
        self, settings: ServiceSettings, verifier: TokenVerifier, load: Loader | None = None
    ) -> None:
        if verifier.denylist is None:
            verifier.denylist = Denylist()
        self.denylist = verifier.denylist
        close = None
        if load is None:
            load, close = http_loader(settings.revocations_url)
        self.feed = RevocationFeed(
            self.denylist, load, settings.broker_url, name=settings.service_name, close=close
        )

    async def start(self, _: FastAPI) -> None:
        await self.feed.start()

    async def stop(self, _: FastAPI) -> None:
        await self.feed.stop()

    async def revocations_loaded(self) -> None:
        if not self.denylist.loaded:
            raise ServiceUnavailable("Token revocations not loaded yet")


def build_service(
    settings: ServiceSettings,
    *,
    title: str,
    schema: str,
    metadata: MetaData,
    routers: Sequence[APIRouter],
    verifier: TokenVerifier | None = None,
    revocations_from: Callable[[Database], Loader] | None = None,
    on_startup: Sequence[Hook] = (),
    on_shutdown: Sequence[Hook] = (),
    extra_ready: Sequence[ReadyCheck] = (),
    **kwargs: Any,
) -> FastAPI:
    """`revocations_from(db)`: where the denylist comes from, when not from auth over HTTP
    (auth itself reads its own database)."""
    db = Database(
        settings.database_url,
        schema,
        metadata=metadata,
        pool_size=settings.db_pool_size,
        pool_timeout=settings.db_pool_wait_seconds,
    )
    publisher = make_publisher(
        settings.broker_url,
        settings.broker_filesystem_dir,
        (schema,),
        settings.task_queue_prefixes,
    )
    relay = OutboxRelay(db.sessionmaker, metadata, schema, publisher)
    verifier = verifier or make_verifier(settings)
    revocations = RevocationSync(
        settings, verifier, revocations_from(db) if revocations_from is not None else None
    )

    async def database() -> None:
        await db.ping()

    async def broker() -> None:
        await publisher.ping()

    async def start(app: FastAPI) -> None:
        app.state.db = db
        app.state.outbox_relay = relay
        app.state.token_verifier = verifier
        relay.start()

    async def stop(app: FastAPI) -> None:
        await relay.stop()
        await publisher.close()
        await db.dispose()

    app = create_service_app(
        settings,
        title=title,
        routers=routers,
        ready_checks=[database, broker, revocations.revocations_loaded, *extra_ready],
        on_startup=[start, revocations.start, *on_startup],
        on_shutdown=[*on_shutdown, revocations.stop, stop],
        **kwargs,
    )
    ensure_guarded(app)  # a route with no guard that is not explicitly public stops startup
    # set eagerly too, so tests that skip the lifespan still find them
    app.state.db = db
    app.state.outbox_relay = relay
    app.state.token_verifier = verifier
    return app
