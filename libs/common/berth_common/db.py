"""Async engine and sessions per service schema; transactions are owned at the edge."""

import time
from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import Depends, Request
from sqlalchemy import Executable, MetaData, Row, event, text
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import DeclarativeBase, Session

# a pooled connection idle longer than this is pinged before use (PostgreSQL may have restarted
# meanwhile); one back within it was just working and is not: an unconditional pre-ping costs
# three round trips (BEGIN, ping, ROLLBACK) on every checkout, as much as the query it guards
PING_IF_IDLE_SECONDS = 1.0

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def make_base(schema: str) -> type[DeclarativeBase]:
    """A declarative base whose tables all live in the service's own schema."""

    class Base(DeclarativeBase):
        metadata = MetaData(schema=schema, naming_convention=NAMING_CONVENTION)

    return Base


class Database:
    def __init__(
        self,
        url: str,
        schema: str,
        *,
        metadata: MetaData | None = None,
        pool_size: int = 10,
        pool_timeout: float = 5.0,
        ping_if_idle_seconds: float = PING_IF_IDLE_SECONDS,
        echo: bool = False,
    ):
        self.url = url
        self.schema = schema
        self.metadata = metadata
        self.engine = create_async_engine(
            url,
            echo=echo,
            pool_size=pool_size,
            # pool_size is the most connections, and every one opened is kept: an overflow
            # connection would be closed on return and opened again in the next burst
            max_overflow=0,
            pool_recycle=1800,
            pool_timeout=pool_timeout,  # past this wait for a connection: an error (503)
            connect_args={
                "timeout": 5,
                "command_timeout": 30,
                "server_settings": {"application_name": f"berth-{schema}"},
            },
        )
        # sessions survive a PostgreSQL restart: idle connections are pinged before use
        ping_idle_connections(self.engine, ping_if_idle_seconds)
        # the outbox helpers find the service's tables through session.info
        self.sessionmaker = async_sessionmaker(
            self.engine, expire_on_commit=False, info={"schema": schema, "metadata": metadata}
        )
        # reads only: each statement on its own (autocommit), no BEGIN and COMMIT round trips
        autocommit = self.engine.execution_options(isolation_level="AUTOCOMMIT")
        self.read_sessionmaker = async_sessionmaker(
            autocommit, sync_session_class=ReadOnlySession, expire_on_commit=False
        )
        self.reads = Reads(autocommit)

    async def ping(self) -> None:
        async with self.engine.connect() as conn:
            await conn.execute(text("SELECT 1"))

    async def dispose(self) -> None:
        await self.engine.dispose()


def ping_idle_connections(engine: AsyncEngine, idle_seconds: float) -> None:
    """Pessimistic disconnect handling for connections idle past `idle_seconds` (SQLAlchemy's
    checkout-event recipe): a dead one is replaced before the session sees it."""
    sync_engine = engine.sync_engine
    dialect = sync_engine.dialect

    @event.listens_for(sync_engine, "connect")
    @event.listens_for(sync_engine, "checkin")
    def _mark_used(dbapi_connection: Any, record: Any) -> None:
        record.info["used_at"] = time.monotonic()

    @event.listens_for(sync_engine, "checkout")
    def _ping_if_idle(dbapi_connection: Any, record: Any, proxy: Any) -> None:
        if time.monotonic() - record.info.get("used_at", 0.0) < idle_seconds:
            return
        try:
            dialect.do_ping(dbapi_connection)
        except dialect.loaded_dbapi.Error as exc:
            if dialect.is_disconnect(exc, dbapi_connection, None):
                raise DisconnectionError("connection lost while idle") from exc  # pool reconnects
            raise


class Reads:
    """One Core statement at a time in autocommit, each on a pooled connection it gives back at
    once, without a Session: no transaction bookkeeping, identity map or per-request teardown.
    For the hottest read-only routes (GET /me), whose DAO reads one row."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    async def first(self, statement: Executable, params: dict[str, Any]) -> Row | None:
        async with self.engine.connect() as conn:
            return (await conn.execute(statement, params)).first()


class ReadOnlySession(Session):
    """A session that only reads: a flush with anything to write is a bug, refused before any
    SQL runs (in autocommit it would be kept at once, outside any request transaction)."""


@event.listens_for(ReadOnlySession, "before_flush")
def _refuse_writes(session: Session, flush_context: Any, instances: Any) -> None:
    if session.new or session.dirty or session.deleted:
        raise RuntimeError("a read-only session cannot write: use SessionDep")


async def _request_session(request: Request) -> AsyncIterator[AsyncSession]:
    db: Database = request.app.state.db
    async with db.sessionmaker() as session:
        try:
            yield session
            await session.commit()  # edge: the request dependency
        except BaseException:
            await session.rollback()
            raise
        # committed: hand the outbox rows of this transaction to the broker now (confirmed);
        # the relay loop sends whatever this could not.
        pending: list[Any] = session.info.pop("outbox_pending", [])
        relay = getattr(request.app.state, "outbox_relay", None)
        if pending and relay is not None:
            await relay.publish_now(pending)


# scope="function": commit runs before the response is sent, so a failed commit is the
# response the client sees, never a 200 for data that was not kept.
SessionDep = Annotated[AsyncSession, Depends(_request_session, scope="function")]


async def _read_session(request: Request) -> AsyncIterator[AsyncSession]:
    db: Database = request.app.state.db
    async with db.read_sessionmaker() as session:
        yield session


# For requests that only read: one round trip per query instead of BEGIN, query, COMMIT. Each
# statement sees what was committed when it ran (no snapshot shared between statements).
ReadSessionDep = Annotated[AsyncSession, Depends(_read_session, scope="function")]


async def _reads(request: Request) -> Reads:
    return request.app.state.db.reads


# Single reads without a session: nothing to tear down, so a plain dependency (no generator)
ReadsDep = Annotated[Reads, Depends(_reads)]
