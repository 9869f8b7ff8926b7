"""Celery tasks of the auth service: ids in, a service call, done. Each is idempotent."""

import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from berth_auth import mail
from berth_auth.accounts import service as accounts
from berth_auth.names import PURGE_TASK
from berth_auth.worker import app, runtime, settings
from berth_common.mail import SEND_MAX_RETRIES
from berth_common.worker import service_task


async def send_email(session: AsyncSession, email_id: str) -> None:
    # the row's status makes a redelivered message a no-op once the email went out
    await mail.MAILER.send(session, settings, uuid.UUID(email_id))


async def requeue_stale_emails(session: AsyncSession) -> None:
    await mail.MAILER.requeue_stale(session)


async def purge(session: AsyncSession) -> None:
    await accounts.purge_expired(session)


send_email_task = service_task(app, runtime, mail.MAILER.send_task, max_retries=SEND_MAX_RETRIES)(
    send_email
)
requeue_task = service_task(app, runtime, mail.MAILER.requeue_task, max_retries=3)(
    requeue_stale_emails
)
purge_task = service_task(
    app, runtime, PURGE_TASK, max_retries=3, soft_time_limit=240, time_limit=300
)(purge)
