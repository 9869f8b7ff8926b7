"""Celery tasks and event handlers of tickets: ids and JSON in, a service call, done."""

import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from berth_common.mail import SEND_MAX_RETRIES
from berth_common.worker import service_task
from berth_tickets import mail
from berth_tickets.names import Task
from berth_tickets.worker import celery_app, settings, worker_runtime


async def send_email(session: AsyncSession, email_id: str) -> None:
    await mail.send_outgoing_email(session, settings, uuid.UUID(email_id))


async def requeue_stale_mail(session: AsyncSession) -> None:
    await mail.MAILER.requeue_stale(session)


send_email_task = service_task(
    celery_app, worker_runtime, mail.MAILER.send_task, max_retries=SEND_MAX_RETRIES
)(send_email)
requeue_stale_mail_task = service_task(
    celery_app, worker_runtime, Task.REQUEUE_STALE_MAIL, max_retries=3
)(requeue_stale_mail)
