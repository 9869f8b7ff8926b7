"""The sampler against the real PostgreSQL: one row per queue and slot however often it runs
(concurrent runs included), the oldest-message age from those rows, and an alert episode that
owes each channel one notification when it opens and one when it closes."""

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from berth_common.db import Database
from berth_monitoring.config import MonitoringSettings
from berth_monitoring.models import SCHEMA, Base
from berth_monitoring.queues import rabbit, service
from berth_monitoring.queues.schemas import QueueThresholdUpdate

SAMPLE = 20
T0 = service.slot_of(datetime.now(UTC) - timedelta(hours=2), SAMPLE)


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    database = Database(database_url, SCHEMA, metadata=Base.metadata, pool_size=4)
    yield database.sessionmaker
    await database.engine.dispose()


@pytest.fixture
def settings() -> MonitoringSettings:
    return MonitoringSettings(
        broker_url="amqp://guest:guest@127.0.0.1:5672//", queue_sample_seconds=SAMPLE
    )


class Broker:
    """What RabbitMQ's Prometheus endpoint says about one queue (set by each step)."""

    def __init__(self, queue: str):
        self.queue = queue
        self.ready = 0
        self.consumers = 1
        self.delivered = 0

    async def scrape(self, base_url: str, vhost: str) -> dict[str, rabbit.QueueFacts]:
        q = self.queue
        return rabbit.parse_metrics(
            f'rabbitmq_detailed_queue_messages_ready{{vhost="/",queue="{q}"}} {self.ready}\n'
            f'rabbitmq_detailed_queue_messages_unacked{{vhost="/",queue="{q}"}} 0\n'
            f'rabbitmq_detailed_queue_consumers{{vhost="/",queue="{q}"}} {self.consumers}\n'
            "rabbitmq_detailed_channel_messages_delivered_ack_total"
            f'{{channel="<0.7.0>",vhost="/",queue="{q}"}} {self.delivered}\n'
        )


@pytest.fixture
def broker(monkeypatch) -> Broker:
    fake = Broker(f"test-{uuid.uuid4().hex[:8]}")
    monkeypatch.setattr(rabbit, "scrape", fake.scrape)
    return fake


async def sample(db, settings, seconds: int) -> int:
    async with db() as session:
        stored = await service.sample_queues(session, settings, T0 + timedelta(seconds=seconds))
        await session.commit()
    return stored


async def rows(db, statement: str, **params) -> list[tuple]:
    async with db() as session:
        return [tuple(r) for r in await session.execute(text(statement), params)]


async def test_a_slot_is_stored_once_and_its_alert_owed_once(db, settings, broker):
    owner = uuid.uuid4()
    channel = uuid.uuid4()
    async with db() as session:
        await session.execute(
            text(
                "INSERT INTO monitoring.alert_channels (id, owner_id, kind, name, target) "
                "VALUES (:id, :owner, 'email', 'mail', 'oncall@example.test')"
            ),
            {"id": channel, "owner": owner},
        )
        await session.commit()
    assert await sample(db, settings, 0) == 1  # an empty queue with a consumer
    async with db() as session:
        update = QueueThresholdUpdate(oldest_age_seconds=30, channel_ids=[channel])
        await service.set_threshold(session, broker.queue, update, owner)
        await session.commit()

    broker.ready, broker.consumers = 4, 0  # the worker is gone, messages wait
    assert await sample(db, settings, 20) == 1
    # the same slot twice at once: one row, the other run stores and evaluates nothing
    assert sorted(await asyncio.gather(*(sample(db, settings, 45) for _ in range(2)))) == [0, 1]
    assert await sample(db, settings, 60) == 1
    assert await sample(db, settings, 80) == 1
    ages = await rows(
        db,
        "SELECT oldest_age_seconds FROM monitoring.queue_samples WHERE queue = :q ORDER BY slot_at",
        q=broker.queue,
    )
    assert [a for (a,) in ages] == [None, 0.0, 20.0, 40.0, 60.0]
    owed = await rows(
        db,
        "SELECT event, dedupe_key FROM monitoring.notifications WHERE channel_id = :c",
        c=channel,
    )
    assert [event for event, _ in owed] == ["queue_breach"], owed

    broker.ready, broker.consumers, broker.delivered = 0, 1, 4  # back, and drained
    assert await sample(db, settings, 100) == 1
    assert await sample(db, settings, 120) == 1
    owed = await rows(
        db,
        "SELECT event FROM monitoring.notifications WHERE channel_id = :c ORDER BY created_at",
        c=channel,
    )
    assert [event for (event,) in owed] == ["queue_breach", "queue_recovered"]
    episodes = await rows(
        db,
        "SELECT kind, closed_at IS NOT NULL FROM monitoring.queue_alerts WHERE queue = :q",
        q=broker.queue,
    )
    assert episodes == [("oldest_age", True)]
    outbox = await rows(
        db,
        "SELECT count(*) FROM monitoring.outbox WHERE body LIKE :n",
        n="%notification_id%",
    )
    assert outbox[0][0] >= 2
