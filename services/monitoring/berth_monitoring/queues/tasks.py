"""Celery tasks of the queue pages: ids and JSON in, a service call, done."""

from sqlalchemy.ext.asyncio import AsyncSession

from berth_common.worker import service_task
from berth_monitoring.names import Task
from berth_monitoring.queues import service
from berth_monitoring.worker import celery_app, settings, worker_runtime


async def sample_queues(session: AsyncSession) -> None:
    await service.sample_queues(session, settings)


async def purge_queue_history(session: AsyncSession) -> None:
    await service.purge_history(session, settings)


# idempotent by slot: a late or repeated run stores nothing a second time
sample_queues_task = service_task(
    celery_app, worker_runtime, Task.SAMPLE_QUEUES, max_retries=2, soft_time_limit=20, time_limit=30
)(sample_queues)
purge_queue_history_task = service_task(
    celery_app, worker_runtime, Task.PURGE_QUEUE_HISTORY, max_retries=3
)(purge_queue_history)
