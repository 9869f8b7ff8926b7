"""Celery tasks of chat: ids and JSON in, a service call, done."""

from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncSession

from berth_chat.conversations.dao import PURGE_BATCH, MessageDAO
from berth_chat.names import Task
from berth_chat.worker import celery_app, settings, worker_runtime
from berth_common.worker import service_task


async def _purge_batch(session: AsyncSession, now: datetime) -> int:
    return await MessageDAO(session).purge_older_than(settings.retention_days, now)


async def purge() -> None:
    """Retention: batches in transactions of their own, so a long purge holds no lock for
    long and a worker that dies keeps what it deleted (the next hourly run goes on)."""
    now = datetime.now(UTC)
    while await worker_runtime.in_transaction(_purge_batch, now=now) >= PURGE_BATCH:
        pass


purge_task = service_task(
    celery_app, worker_runtime, Task.PURGE_OLD, max_retries=3, in_transaction=False
)(purge)
