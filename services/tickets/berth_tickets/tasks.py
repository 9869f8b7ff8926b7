"""Celery tasks and event handlers of tickets: ids and JSON in, a service call, done."""

import uuid
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from berth_common.mail import SEND_MAX_RETRIES
from berth_common.worker import on_event, service_task
from berth_tickets import mail
from berth_tickets.enums import IncidentStatus
from berth_tickets.inbound import service as inbound
from berth_tickets.incidents import service as incidents
from berth_tickets.names import INCIDENT_OPENED, INCIDENT_RESOLVED, TIER_CHANGED, Task
from berth_tickets.sla import tiers
from berth_tickets.sla.breaches import check_breaches
from berth_tickets.tickets.autoclose import auto_close
from berth_tickets.upstream import Upstream
from berth_tickets.worker import celery_app, settings, worker_runtime

upstream = Upstream(settings)


async def _address_of(email: Any) -> str | None:
    if email.recipient_id is None:
        return None
    return await _email_of(email.recipient_id)


async def _email_of(user_id: uuid.UUID) -> str | None:
    person = await upstream.person(user_id)
    return person.get("email") if person else None


async def send_email(session: AsyncSession, email_id: str) -> None:
    await mail.send_outgoing_email(session, settings, uuid.UUID(email_id), _address_of)


async def requeue_stale_mail(session: AsyncSession) -> None:
    await mail.MAILER.requeue_stale(session)


async def sla_breaches(session: AsyncSession) -> None:
    await check_breaches(session, settings, datetime.now(UTC))


async def close_waiting(session: AsyncSession) -> None:
    await auto_close(session, settings, datetime.now(UTC))


@on_event(worker_runtime, INCIDENT_OPENED)
async def incident_opened(session: AsyncSession, payload: dict, event: dict) -> None:
    await incidents.record(session, payload, IncidentStatus.OPEN)


@on_event(worker_runtime, INCIDENT_RESOLVED)
async def incident_resolved(session: AsyncSession, payload: dict, event: dict) -> None:
    await incidents.record(session, payload, IncidentStatus.RESOLVED)


@on_event(worker_runtime, TIER_CHANGED)
async def tier_changed(session: AsyncSession, payload: dict, event: dict) -> None:
    await tiers.tier_changed(session, payload)


async def process_inbound(session: AsyncSession, raw_id: str) -> None:
    await inbound.process(session, settings, uuid.UUID(raw_id), _email_of)


async def inbound_upkeep(session: AsyncSession) -> None:
    await inbound.requeue_unprocessed(session)
    await inbound.purge_processed(session, settings)


send_email_task = service_task(
    celery_app, worker_runtime, mail.MAILER.send_task, max_retries=SEND_MAX_RETRIES
)(send_email)
requeue_stale_mail_task = service_task(
    celery_app, worker_runtime, Task.REQUEUE_STALE_MAIL, max_retries=3
)(requeue_stale_mail)
sla_breaches_task = service_task(celery_app, worker_runtime, Task.CHECK_SLA, max_retries=3)(
    sla_breaches
)
auto_close_task = service_task(celery_app, worker_runtime, Task.AUTO_CLOSE, max_retries=3)(
    close_waiting
)
# retried for about half an hour (auth's directory down); the beat requeues past that
process_inbound_task = service_task(
    celery_app, worker_runtime, Task.PROCESS_INBOUND, max_retries=SEND_MAX_RETRIES
)(process_inbound)
inbound_upkeep_task = service_task(celery_app, worker_runtime, Task.INBOUND_UPKEEP, max_retries=3)(
    inbound_upkeep
)
