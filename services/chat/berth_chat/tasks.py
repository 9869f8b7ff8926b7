"""Celery tasks of chat: ids and JSON in, a service call, done."""

import uuid
from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncSession

from berth_chat.agents import service as agents
from berth_chat.agents.upstream import Upstream as AgentsUpstream
from berth_chat.conversations.dao import PURGE_BATCH, MessageDAO
from berth_chat.names import Task
from berth_chat.worker import celery_app, settings, worker_runtime
from berth_common.messages import OutgoingMessage
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


# -- chat-agents: a customer's message put to their agent app ------------------------------------

agents_upstream = AgentsUpstream(settings)


async def _live(message: OutgoingMessage) -> None:
    await worker_runtime.relay.publisher.publish(message)


async def ask_agent(request_id: str) -> None:
    """One agent request: acks late, retried with backoff on transient failures (connection,
    timeout, 502/503/504), idempotent (one answer per request message: see agents.service)."""
    await agents.answer(
        worker_runtime.in_transaction, agents_upstream, settings, uuid.UUID(request_id), _live
    )


ask_agent_task = service_task(
    celery_app,
    worker_runtime,
    Task.ASK_AGENT,
    max_retries=settings.agent_max_attempts + 2,
    retry_backoff_max=settings.agent_retry_backoff_max_seconds,
    soft_time_limit=int(settings.agent_total_timeout_seconds) + 30,
    time_limit=int(settings.agent_total_timeout_seconds) + 60,
    in_transaction=False,
)(ask_agent)
