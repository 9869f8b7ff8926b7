"""A tiny service used by berth_common's own tests: one table, one task, one event handler."""

import os

from sqlalchemy import Column, Integer, String, Table, text
from sqlalchemy.ext.asyncio import AsyncSession

from berth_common.config import ServiceSettings
from berth_common.db import make_base
from berth_common.errors import TransientError
from berth_common.outbox import add_outbox_tables
from berth_common.worker import (
    WorkerRuntime,
    create_celery,
    on_event,
    register_event_task,
    reset_runtime_after_fork,
    service_task,
)

SCHEMA = os.environ.get("DEMO_SCHEMA", "demo")
Base = make_base(SCHEMA)
add_outbox_tables(Base.metadata)
effects = Table(
    "effects",
    Base.metadata,
    Column("key", String(64), primary_key=True),
    Column("runs", Integer, nullable=False, server_default="0"),
)

settings = ServiceSettings(service_name="demo")
app = create_celery(settings, queue=SCHEMA, include=[], consumes_events=["other.thing.happened"])
runtime = WorkerRuntime(settings, SCHEMA, Base.metadata)
reset_runtime_after_fork(runtime)


async def _bump(session: AsyncSession, key: str) -> int:
    row = await session.execute(
        text(
            f"INSERT INTO {SCHEMA}.effects (key, runs) VALUES (:k, 1) "
            "ON CONFLICT (key) DO UPDATE SET runs = effects.runs + 1 RETURNING runs"
        ),
        {"k": key},
    )
    return row.scalar_one()


@service_task(app, runtime, "demo.effects.record")
async def record(session: AsyncSession, key: str) -> None:
    await _bump(session, key)


@service_task(app, runtime, "demo.effects.flaky")
async def flaky(session: AsyncSession, key: str) -> None:
    # fails on the first delivery, succeeds on the retry (through the delayed-delivery path)
    attempts = await _bump(session, f"{key}:attempt")
    await session.commit()
    if attempts < 2:
        raise TransientError("first try fails")
    await _bump(session, key)


@service_task(app, runtime, "demo.effects.stepwise", in_transaction=False, retry_backoff_max=5)
async def stepwise(key: str) -> None:
    # its own transactions: the first step stays committed when the second fails and retries
    attempts = await runtime.in_transaction(_bump, key=f"{key}:attempt")
    if attempts < 2:
        raise TransientError("first try fails")
    await runtime.in_transaction(_bump, key=key)


@on_event(runtime, "other.thing.happened")
async def thing_happened(session: AsyncSession, payload: dict, event: dict) -> None:
    await _bump(session, payload["key"])


register_event_task(app, runtime)
