"""Celery tasks of chat: ids and JSON in, a service call, done."""

import uuid
from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncSession

from berth_chat.agents import answering as agents
from berth_chat.agents.upstream import Upstream as AgentsUpstream
from berth_chat.names import ACCOUNT_TIER_CHANGED, Task
from berth_chat.retention import service as retention
from berth_chat.worker import celery_app, settings, worker_runtime
from berth_common.messages import OutgoingMessage
from berth_common.worker import on_event, service_task


async def purge() -> None:
    """Retention per tier (berth_chat.retention): each batch its own transaction, so a worker
    that dies keeps what it deleted and the next hourly run goes on."""
    await retention.purge(worker_runtime.in_transaction, settings, datetime.now(UTC))


purge_task = service_task(
    celery_app, worker_runtime, Task.PURGE_OLD, max_retries=3, in_transaction=False
)(purge)


@on_event(worker_runtime, ACCOUNT_TIER_CHANGED)
async def on_tier_changed(session: AsyncSession, payload: dict, event: dict) -> None:
    await retention.tier_changed(session, payload)


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
