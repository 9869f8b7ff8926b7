"""The outbox, the Celery factory and events against the real PostgreSQL and RabbitMQ."""

import asyncio
import sys
import uuid
from pathlib import Path
from types import SimpleNamespace

import pytest
from sqlalchemy import text

from berth_common.broker import make_publisher
from berth_common.db import Database
from berth_common.messages import event_message
from berth_common.outbox import OutboxRelay, enqueue_task, publish_event
from berth_testing.processes import ManagedProcess

HERE = Path(__file__).parent


@pytest.fixture(scope="module")
def demo_schema(berth_env: dict[str, str]) -> str:
    schema = f"demo_{uuid.uuid4().hex[:6]}"
    return schema


@pytest.fixture(scope="module")
async def demo(berth_env, demo_schema, tmp_path_factory):
    import os

    os.environ["DEMO_SCHEMA"] = demo_schema
    sys.path.insert(0, str(HERE))
    import demo_service

    db = Database(berth_env["DATABASE_URL"], demo_schema, metadata=demo_service.Base.metadata)
    async with db.engine.begin() as conn:
        await conn.execute(text(f'CREATE SCHEMA IF NOT EXISTS "{demo_schema}"'))
        await conn.run_sync(demo_service.Base.metadata.create_all)
    env = {**berth_env, "DEMO_SCHEMA": demo_schema, "PYTHONPATH": str(HERE)}
    worker = ManagedProcess(
        "demo-worker",
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "demo_service",
            "worker",
            "-Q",
            demo_schema,
            "--concurrency",
            "1",
            "-n",
            f"{demo_schema}@%h",
        ],
        env=env,
        log_dir=tmp_path_factory.mktemp("logs"),
    ).start()
    # the tests give a task 30 s to run: a worker still importing on a busy machine is not that
    worker.wait_ready(lambda: b" ready." in worker.output(), timeout=180)
    publisher = make_publisher(berth_env["BROKER_URL"], "", (demo_schema,))
    relay = OutboxRelay(db.sessionmaker, demo_service.Base.metadata, demo_schema, publisher)
    yield db, relay, worker, demo_schema
    worker.stop()
    await publisher.close()
    async with db.engine.begin() as conn:
        await conn.execute(text(f'DROP SCHEMA "{demo_schema}" CASCADE'))
    await db.dispose()


async def runs(db: Database, schema: str, key: str, want: int | None = None, timeout=30.0) -> int:
    deadline = asyncio.get_running_loop().time() + timeout
    value = 0
    while True:
        async with db.engine.connect() as conn:
            value = (
                await conn.execute(
                    text(f"SELECT runs FROM {schema}.effects WHERE key = :k"), {"k": key}
                )
            ).scalar() or 0
        if want is None or value >= want or asyncio.get_running_loop().time() > deadline:
            return value
        await asyncio.sleep(0.2)


async def commit_task(db: Database, relay: OutboxRelay, schema: str, name: str, key: str) -> None:
    async with db.sessionmaker() as session:
        await enqueue_task(session, name, queue=schema, kwargs={"key": key})
        await session.commit()
        pending = session.info.pop("outbox_pending")
    await relay.publish_now(pending)


async def test_committed_task_runs_once(demo):
    db, relay, _, schema = demo
    key = uuid.uuid4().hex
    await commit_task(db, relay, schema, "demo.effects.record", key)
    assert await runs(db, schema, key, want=1) == 1
    await asyncio.sleep(1.0)
    assert await runs(db, schema, key) == 1
    async with db.engine.connect() as conn:
        unpublished = (
            await conn.execute(
                text(f"SELECT count(*) FROM {schema}.outbox WHERE published_at IS NULL")
            )
        ).scalar()
    assert unpublished == 0


async def test_rolled_back_transaction_sends_nothing(demo):
    db, relay, _, schema = demo
    key = uuid.uuid4().hex
    async with db.sessionmaker() as session:
        await enqueue_task(session, "demo.effects.record", queue=schema, kwargs={"key": key})
        await session.rollback()
    assert await relay.drain_once() == 0
    await asyncio.sleep(1.5)
    assert await runs(db, schema, key) == 0


async def test_broker_outage_keeps_message_until_relay_delivers(demo, berth_env):
    db, relay, _, schema = demo
    key = uuid.uuid4().hex
    dead = OutboxRelay(
        db.sessionmaker,
        relay.table.metadata,
        schema,
        make_publisher("amqp://guest:guest@127.0.0.1:1//", "", (schema,)),
    )
    async with db.sessionmaker() as session:
        await enqueue_task(session, "demo.effects.record", queue=schema, kwargs={"key": key})
        await session.commit()
        pending = session.info.pop("outbox_pending")
    await dead.publish_now(pending)  # broker unreachable: the row stays, with the error noted
    async with db.engine.connect() as conn:
        row = (
            await conn.execute(
                text(f"SELECT published_at, attempts FROM {schema}.outbox WHERE id = :i"),
                {"i": pending[0]},
            )
        ).one()
    assert row.published_at is None and row.attempts == 1
    await db.engine.dispose()
    async with db.engine.begin() as conn:  # skip the backoff wait
        await conn.execute(
            text(f"UPDATE {schema}.outbox SET available_at = now() WHERE id = :i"),
            {"i": pending[0]},
        )
    assert await relay.drain_once() >= 1
    assert await runs(db, schema, key, want=1) == 1


async def test_transient_failure_is_retried_with_backoff(demo):
    db, relay, _, schema = demo
    key = uuid.uuid4().hex
    await commit_task(db, relay, schema, "demo.effects.flaky", key)
    assert await runs(db, schema, key, want=1, timeout=45) == 1
    assert await runs(db, schema, f"{key}:attempt") == 2


async def test_a_task_with_its_own_transactions_keeps_each_and_retries_on_transient(demo):
    db, relay, _, schema = demo
    key = uuid.uuid4().hex
    await commit_task(db, relay, schema, "demo.effects.stepwise", key)
    assert await runs(db, schema, key, want=1, timeout=45) == 1
    assert await runs(db, schema, f"{key}:attempt") == 2


def test_a_task_with_its_own_transactions_keeps_the_reliability_options(demo):
    import demo_service

    from berth_common.worker import TRANSIENT_ERRORS

    task = demo_service.stepwise
    assert (task.acks_late, task.reject_on_worker_lost, task.ignore_result) == (True, True, True)
    assert task.autoretry_for == TRANSIENT_ERRORS
    assert (task.retry_backoff, task.retry_backoff_max, task.retry_jitter) == (2, 5, True)


async def test_event_is_handled_once_even_if_delivered_twice(demo):
    db, relay, _, schema = demo
    key = uuid.uuid4().hex
    message = event_message("other.thing.happened", {"key": key}, source="other")
    await relay.publisher.publish(message)
    await relay.publisher.publish(message)  # a redelivery/replay of the same event id
    assert await runs(db, schema, key, want=1) == 1
    await asyncio.sleep(1.5)
    assert await runs(db, schema, key) == 1


async def test_event_from_outbox_reaches_bound_queue(demo):
    db, relay, _, schema = demo
    key = uuid.uuid4().hex
    async with db.sessionmaker() as session:
        await publish_event(session, "other.thing.happened", {"key": key})
        await session.commit()
        pending = session.info.pop("outbox_pending")
    await relay.publish_now(pending)
    assert await runs(db, schema, key, want=1) == 1


async def test_publish_now_leaves_rows_to_the_relay_while_the_broker_reconnects(demo):
    """A request's commit does not wait for a broker that is away: while the robust connection
    is reconnecting, publish_now returns at once and the relay loop sends the rows later
    (tests/faults/test_broker_restart.py shows it against a real broker restart)."""
    db, relay, _, schema = demo
    key = uuid.uuid4().hex
    publisher = make_publisher("amqp://guest:guest@127.0.0.1:1//", "", (schema,))
    assert publisher.reachable  # never tried: try it
    # the state aio-pika's RobustConnection is in between losing the broker and reconnecting
    publisher._conn = SimpleNamespace(is_closed=False, connected=asyncio.Event())
    assert not publisher.reachable
    away = OutboxRelay(db.sessionmaker, relay.table.metadata, schema, publisher)
    async with db.sessionmaker() as session:
        await enqueue_task(session, "demo.effects.record", queue=schema, kwargs={"key": key})
        await session.commit()
        pending = session.info.pop("outbox_pending")
    await away.publish_now(pending)
    async with db.engine.connect() as conn:
        row = (
            await conn.execute(
                text(f"SELECT published_at, attempts FROM {schema}.outbox WHERE id = :i"),
                {"i": pending[0]},
            )
        ).one()
    assert row.published_at is None and row.attempts == 0  # not tried, not backed off
    assert await relay.drain_once() >= 1
    assert await runs(db, schema, key, want=1) == 1


async def test_a_queue_made_at_run_time_is_declared_before_its_first_message():
    """deploy's per-node queues (`deploy.node.<name>`): a message sent before the node's
    worker ever started is kept in a quorum queue, not dropped as unroutable."""
    import aio_pika

    from berth_common.broker import AmqpPublisher
    from berth_common.messages import task_message
    from berth_testing.broker import isolated_vhost

    with isolated_vhost("berth_family") as url:
        publisher = AmqpPublisher(url, ("demo",), queue_prefixes=("demo.node.",))
        try:
            await publisher.publish(task_message("demo.ping", queue="demo.node.b"))
            await publisher.publish(task_message("demo.ping", queue="other.node.b"))
        finally:
            await publisher.close()
        conn = await aio_pika.connect_robust(url)
        try:
            channel = await conn.channel()
            queue = await channel.declare_queue("demo.node.b", passive=True)
            assert queue.declaration_result.message_count == 1
            # same arguments as the worker's declaration (a quorum queue), or this would fail
            await channel.declare_queue(
                "demo.node.b", durable=True, arguments={"x-queue-type": "quorum"}
            )
            with pytest.raises(aio_pika.exceptions.ChannelNotFoundEntity):
                await (await conn.channel()).declare_queue("other.node.b", passive=True)
        finally:
            await conn.close()
