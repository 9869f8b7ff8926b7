"""Celery events become task facts per queue, task and minute, worker presence and deploy
markers; two flushes into one minute add up (the upsert), nothing is counted twice."""

import time
import uuid
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from berth_common.db import Database
from berth_monitoring.models import SCHEMA, Base
from berth_monitoring.queues.events import Aggregator, flush, queue_of_worker
from berth_monitoring.queues.rules import p95


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    database = Database(database_url, SCHEMA, metadata=Base.metadata, pool_size=2)
    yield database.sessionmaker
    await database.engine.dispose()


def test_the_queue_is_the_workers_name():
    assert queue_of_worker("billing@host-1") == "billing"
    assert queue_of_worker("auth-123456789@ci") == "auth"  # test runs add a number
    assert queue_of_worker("deploy.node.a@x") == "deploy.node.a"


def task_events(hostname: str, name: str, runtime: float, outcome: str = "task-succeeded"):
    task_id = str(uuid.uuid4())
    now = time.time()
    base = {
        "uuid": task_id,
        "hostname": hostname,
        "timestamp": now,
        "local_received": now,
        "clock": 1,
    }
    yield {**base, "type": "task-received", "name": name}
    yield {**base, "type": "task-started"}
    if outcome == "task-succeeded":
        yield {**base, "type": outcome, "runtime": runtime}
    else:
        yield {**base, "type": outcome, "exception": "Boom()"}


async def test_events_are_counted_per_queue_task_and_minute(db):
    queue = f"q{uuid.uuid4().hex[:8]}"
    host = f"{queue}@node-1"
    task = f"{queue}.things.do"
    first, second = Aggregator(), Aggregator()
    first.on_event({"type": "task-received", "uuid": "x"})  # no clock: not Celery's, skipped
    now = time.time()
    first.on_event(
        {
            "type": "worker-online",
            "hostname": host,
            "timestamp": now,
            "local_received": now,
            "clock": 1,
            "sw_ident": "py-celery",
            "sw_ver": "5.5",
        }
    )
    for event in task_events(host, task, 0.02):
        first.on_event(event)
    for event in task_events(host, task, 3.0):
        second.on_event(event)
    for event in task_events(host, task, 0, outcome="task-failed"):
        second.on_event(event)
    for aggregator in (first, second):
        tasks, workers, markers = aggregator.take()
        async with db() as session:
            await flush(session, tasks, workers, markers)
            await session.commit()
    async with db() as session:
        [row] = (
            await session.execute(
                text(
                    "SELECT sum(received), sum(started), sum(succeeded), sum(failed), "
                    "max(runtime_max), min(runtime_buckets::text) FROM monitoring.queue_task_minutes "
                    "WHERE queue = :q AND task = :t"
                ),
                {"q": queue, "t": task},
            )
        ).all()
        received, started, succeeded, failed, slowest, _ = row
        assert (received, started, succeeded, failed, slowest) == (3, 3, 2, 1, 3.0)
        buckets = (
            (
                await session.execute(
                    text(
                        "SELECT runtime_buckets FROM monitoring.queue_task_minutes WHERE queue = :q"
                    ),
                    {"q": queue},
                )
            )
            .scalars()
            .all()
        )
        merged = [sum(col) for col in zip(*buckets, strict=True)]
        assert sum(merged) == 2 and p95(merged) == 5.0
        worker = (
            await session.execute(
                text(
                    "SELECT queue, online, software FROM monitoring.queue_workers WHERE hostname = :h"
                ),
                {"h": host},
            )
        ).one()
        assert tuple(worker) == (queue, True, "py-celery 5.5")
        markers = (
            await session.execute(
                text("SELECT count(*) FROM monitoring.queue_deploy_markers WHERE queue = :q"),
                {"q": queue},
            )
        ).scalar()
        assert markers == 1
