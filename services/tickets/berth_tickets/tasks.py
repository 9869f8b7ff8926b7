"""Celery tasks and event handlers of tickets: ids and JSON in, a service call, done."""

import uuid
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from berth_common.mail import SEND_MAX_RETRIES
from berth_common.worker import service_task
from berth_tickets import mail
from berth_tickets.directory import Directory
from berth_tickets.inbound import service as inbound
from berth_tickets.names import Task
from berth_tickets.worker import celery_app, settings, worker_runtime

directory = Directory(settings)


async def _address_of(email: Any) -> str | None:
    return await directory.email_of(email.recipient_id) if email.recipient_id else None


async def send_email(session: AsyncSession, email_id: str) -> None:
    await mail.send_outgoing_email(session, settings, uuid.UUID(email_id), _address_of)


async def requeue_stale_mail(session: AsyncSession) -> None:
    await mail.MAILER.requeue_stale(session)


async def process_inbound(session: AsyncSession, raw_id: str) -> None:
    await inbound.process(session, settings, uuid.UUID(raw_id), directory.email_of)


async def requeue_inbound(session: AsyncSession) -> None:
    await inbound.requeue_unprocessed(session)


send_email_task = service_task(
    celery_app, worker_runtime, mail.MAILER.send_task, max_retries=SEND_MAX_RETRIES
)(send_email)
requeue_stale_mail_task = service_task(
    celery_app, worker_runtime, Task.REQUEUE_STALE_MAIL, max_retries=3
)(requeue_stale_mail)
# retried for about half an hour (auth's directory down); the beat requeues past that
process_inbound_task = service_task(
    celery_app, worker_runtime, Task.PROCESS_INBOUND, max_retries=SEND_MAX_RETRIES
)(process_inbound)
requeue_inbound_task = service_task(
    celery_app, worker_runtime, Task.REQUEUE_INBOUND, max_retries=3
)(requeue_inbound)
