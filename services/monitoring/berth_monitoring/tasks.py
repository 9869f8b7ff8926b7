"""Celery tasks and event handlers of monitoring: ids and JSON in, a service call, done."""

import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from berth_common.errors import TransientError
from berth_common.mail import SEND_MAX_RETRIES
from berth_common.worker import service_task
from berth_monitoring import mail
from berth_monitoring.alerts import delivery
from berth_monitoring.names import Task
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


_senders: delivery.Senders | None = None


async def deliver_notification(notification_id: str) -> None:
    global _senders
    if _senders is None:
        _senders = delivery.Senders(settings)
    outcome = await worker_runtime.in_transaction(
        delivery.deliver, senders=_senders, notification_id=uuid.UUID(notification_id)
    )
    if outcome.retry:
        # the attempt is recorded (committed) above; Celery retries with backoff and jitter
        raise TransientError(outcome.error or "delivery failed")


deliver_notification_task = service_task(
    celery_app,
    worker_runtime,
    Task.DELIVER_NOTIFICATION,
    autoretry_for=(TransientError,),
    max_retries=delivery.MAX_ATTEMPTS,
    retry_backoff_max=600,
    in_transaction=False,
)(deliver_notification)
