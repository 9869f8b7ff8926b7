"""Transactional outbox: tasks and events are rows written in the caller's transaction,
published after commit with broker confirms, and retried by a relay loop until sent.

A rolled-back transaction sends nothing; a committed one never loses its message.
"""

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

from loguru import logger
from sqlalchemy import (
    Column,
    DateTime,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    func,
    select,
    text,
    update,
)
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.ext.asyncio import AsyncSession

from berth_common.messages import OutgoingMessage, event_message, task_message


def add_outbox_tables(metadata: MetaData) -> None:
    """Declare `outbox` and `processed_events` in the service's own schema."""
    Table(
        "outbox",
        metadata,
        Column("id", UUID(as_uuid=False), primary_key=True),
        Column("exchange", String(128), nullable=False),
        Column("routing_key", String(128), nullable=False),
        Column("headers", JSONB, nullable=False),
        Column("properties", JSONB, nullable=False, server_default=text("'{}'::jsonb")),
        Column("body", Text, nullable=False),
        Column("mandatory", Integer, nullable=False, server_default="1"),
        Column("available_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
        Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
        Column("published_at", DateTime(timezone=True)),
        Column("attempts", Integer, nullable=False, server_default="0"),
        Column("last_error", String(500)),
        Index(
            "ix_outbox_unpublished",
            "available_at",
            postgresql_where=text("published_at IS NULL"),
        ),
    )
    Table(
        "processed_events",
        metadata,
        Column("event_id", UUID(as_uuid=False), primary_key=True),
        Column("key", String(128), nullable=False),
        Column("processed_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    )


def _table(session: AsyncSession, name: str) -> Table:
    schema = session.info["schema"]
    return session.info["metadata"].tables[f"{schema}.{name}"]


def bind_outbox(session: AsyncSession, metadata: MetaData, schema: str) -> None:
    session.info["metadata"] = metadata
    session.info["schema"] = schema


async def _store(session: AsyncSession, message: OutgoingMessage, delay: float = 0) -> str:
    outbox = _table(session, "outbox")
    available = datetime.now(UTC) + timedelta(seconds=delay)
    await session.execute(
        outbox.insert().values(
            id=message.id,
            exchange=message.exchange,
            routing_key=message.routing_key,
            headers=message.headers,
            properties=message.properties,
            body=message.body,
            mandatory=1 if message.mandatory else 0,
            available_at=available,
        )
    )
    if delay <= 0:
        session.info.setdefault("outbox_pending", []).append(message.id)
    return message.id


async def enqueue_task(
    session: AsyncSession,
    name: str,
    *,
    queue: str,
    kwargs: dict[str, Any] | None = None,
    task_id: str | None = None,
    delay_seconds: float = 0,
) -> str:
    """Queue a Celery task by name (ids and JSON only); it leaves when the session commits."""
    return await _store(
        session, task_message(name, queue=queue, kwargs=kwargs, task_id=task_id), delay_seconds
    )


async def publish_event(session: AsyncSession, key: str, payload: dict[str, Any]) -> str:
    """Emit `<service>.<entity>.<verb>` to the events exchange after commit."""
    return await _store(session, event_message(key, payload, source=session.info["schema"]))


async def publish_message(session: AsyncSession, message: OutgoingMessage) -> str:
    """Any message (e.g. a frame to a fan-out exchange) sent after commit, like the others."""
    return await _store(session, message)


async def claim_event(session: AsyncSession, event_id: str, key: str) -> bool:
    """True the first time this event id is seen in this service (same transaction as the work)."""
    processed = _table(session, "processed_events")
    from sqlalchemy.dialects.postgresql import insert

    result = await session.execute(
        insert(processed)
        .values(event_id=event_id, key=key)
        .on_conflict_do_nothing()
        .returning(processed.c.event_id)
    )
    return result.first() is not None


class OutboxRelay:
    """Publishes outbox rows: right after a commit (publish_now) and from a polling loop."""

    def __init__(self, sessionmaker: Any, metadata: MetaData, schema: str, publisher: Any):
        self.sessionmaker = sessionmaker
        self.table = metadata.tables[f"{schema}.outbox"]
        self.publisher = publisher
        self._task: asyncio.Task[None] | None = None

    async def _publish_rows(self, session: AsyncSession, ids: list[str] | None, limit: int) -> int:
        t = self.table
        stmt = select(t).where(t.c.published_at.is_(None), t.c.available_at <= func.now())
        if ids is not None:
            stmt = stmt.where(t.c.id.in_(ids))
        stmt = stmt.order_by(t.c.available_at).limit(limit).with_for_update(skip_locked=True)
        rows = (await session.execute(stmt)).mappings().all()
        sent = 0
        for row in rows:
            message = OutgoingMessage(
                id=row["id"],
                exchange=row["exchange"],
                routing_key=row["routing_key"],
                headers=row["headers"],
                body=row["body"],
                mandatory=bool(row["mandatory"]),
                properties=row["properties"],
            )
            try:
                await self.publisher.publish(message)
            except Exception as exc:
                await session.execute(
                    update(t)
                    .where(t.c.id == row["id"])
                    .values(
                        attempts=t.c.attempts + 1,
                        last_error=f"{type(exc).__name__}: {exc}"[:500],
                        available_at=func.now()
                        + timedelta(seconds=min(60, 2 ** min(row["attempts"], 6))),
                    )
                )
                logger.warning("outbox publish failed for {}: {}", row["id"], type(exc).__name__)
                break
            await session.execute(
                update(t).where(t.c.id == row["id"]).values(published_at=func.now())
            )
            sent += 1
        return sent

    async def publish_now(self, ids: list[str]) -> None:
        if not getattr(self.publisher, "reachable", True):
            # the broker is away: the request that committed these rows must not wait for it
            # (a publish would hang until its timeout); the relay loop sends them when it is back
            logger.warning("outbox immediate publish deferred: broker unreachable")
            return
        try:
            # edge: the relay, after the request's own transaction committed
            async with self.sessionmaker() as session, session.begin():
                await self._publish_rows(session, ids, len(ids))
        except Exception as exc:  # the relay loop will retry; the rows are committed
            logger.warning("outbox immediate publish deferred: {}", type(exc).__name__)

    async def drain_once(self, limit: int = 200) -> int:
        async with self.sessionmaker() as session, session.begin():  # edge: the relay loop
            return await self._publish_rows(session, None, limit)

    async def run(self, interval: float = 1.0) -> None:
        while True:
            try:
                while await self.drain_once() > 0:
                    pass
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                logger.warning("outbox relay pass failed: {}", type(exc).__name__)
            await asyncio.sleep(interval)

    def start(self, interval: float = 1.0) -> None:
        self._task = asyncio.create_task(self.run(interval), name="outbox-relay")

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
