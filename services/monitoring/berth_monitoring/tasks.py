"""Celery tasks and event handlers of monitoring: ids and JSON in, a service call, done."""

import uuid
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from berth_common.mail import SEND_MAX_RETRIES
from berth_common.worker import on_event, service_task
from berth_monitoring import mail
from berth_monitoring.names import CONSUMED_EVENTS, Task
from berth_monitoring.platform import service as platform
from berth_monitoring.worker import celery_app, settings, worker_runtime


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


# deploy's and billing's events keep the platform's monitors of apps (platform/service.py)
async def platform_event(session: AsyncSession, payload: dict[str, Any], event: dict) -> None:
    await platform.handle(session, settings, event["key"], payload)


for _key in CONSUMED_EVENTS:
    on_event(worker_runtime, _key)(platform_event)
