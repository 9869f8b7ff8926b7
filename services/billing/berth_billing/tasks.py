"""Celery tasks and event handlers of billing: ids and JSON in, a service call, done.

Every one is idempotent: charges by (instance, hour), notices by key, emails by row status,
webhook deliveries by the receiver's (provider, event id), events by event id.
"""

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from berth_billing import idempotency, mail
from berth_billing.accounts.dao import AccountDAO
from berth_billing.directory import Directory
from berth_billing.dunning import service as dunning
from berth_billing.invoices import service as invoices
from berth_billing.metering import service as metering
from berth_billing.names import INSTANCE_EVENTS, USER_REGISTERED, Task
from berth_billing.payments import service as payments
from berth_billing.payments.provider import get_provider
from berth_billing.worker import app, runtime, settings
from berth_common.http import make_http_client
from berth_common.mail import SEND_MAX_RETRIES
from berth_common.worker import on_event, service_task


class _PerProcess:
    """HTTP client and directory of this worker process, made on first use (after fork)."""

    http = None
    directory: Directory | None = None

    @classmethod
    def client(cls):
        if cls.http is None:
            cls.http = make_http_client()
        return cls.http

    @classmethod
    def dir(cls) -> Directory:
        if cls.directory is None:
            cls.directory = Directory(settings)
        return cls.directory


async def charge_hour(
    session: AsyncSession, hour: str, triggered_by: str = "task", full: bool = False
) -> None:
    await metering.charge_hour(
        session,
        datetime.fromisoformat(hour),
        triggered_by=triggered_by,
        full=full,
        shards=settings.metering_shards,
    )


async def run_due(session: AsyncSession) -> None:
    await metering.enqueue_due(session, settings)


async def check(session: AsyncSession) -> None:
    await dunning.check_accounts(session, settings)


async def send_email(session: AsyncSession, email_id: str) -> None:
    await mail.send_outgoing_email(session, settings, _PerProcess.dir(), uuid.UUID(email_id))


async def requeue_stale(session: AsyncSession) -> None:
    await mail.MAILER.requeue_stale(session)


async def purge(session: AsyncSession) -> None:
    await idempotency.purge_expired(session)


async def deliver_webhook(
    session: AsyncSession, payment_id: str, event_id: str, outcome: str
) -> None:
    await payments.deliver_sandbox_webhook(
        session,
        settings,
        get_provider(settings),
        _PerProcess.client(),
        payment_id=uuid.UUID(payment_id),
        event_id=event_id,
        outcome=outcome,
    )


async def run_invoices(session: AsyncSession, period: str | None = None) -> None:
    await invoices.run_period(session, settings, period or invoices.previous_period())


async def finalize_invoices(session: AsyncSession, invoice_ids: list[str]) -> None:
    for invoice_id in invoice_ids:
        await invoices.finalize(session, settings, uuid.UUID(invoice_id))


# one hour over 100k intervals takes seconds; the limits leave room for far more
charge_hour_task = service_task(
    app, runtime, Task.CHARGE_HOUR, max_retries=10, soft_time_limit=900, time_limit=960
)(charge_hour)
run_due_task = service_task(app, runtime, Task.RUN_DUE_METERING, max_retries=3)(run_due)
check_task = service_task(
    app, runtime, Task.CHECK_ACCOUNTS, max_retries=5, soft_time_limit=300, time_limit=360
)(check)
send_email_task = service_task(app, runtime, mail.MAILER.send_task, max_retries=SEND_MAX_RETRIES)(
    send_email
)
requeue_task = service_task(app, runtime, Task.REQUEUE_STALE_MAIL, max_retries=3)(requeue_stale)
purge_task = service_task(app, runtime, Task.PURGE, max_retries=3)(purge)
# like a provider: retry the webhook with backoff for about half an hour
deliver_webhook_task = service_task(app, runtime, Task.DELIVER_WEBHOOK, max_retries=12)(
    deliver_webhook
)
run_invoices_task = service_task(
    app, runtime, Task.RUN_INVOICES, max_retries=3, soft_time_limit=1800, time_limit=1900
)(run_invoices)
finalize_task = service_task(
    app, runtime, Task.FINALIZE_INVOICES, max_retries=8, soft_time_limit=300, time_limit=360
)(finalize_invoices)


async def _instance_event(session: AsyncSession, payload: dict[str, Any], event: dict) -> None:
    await metering.record_instance_event(session, settings, event["key"], payload)


for _key in INSTANCE_EVENTS:
    on_event(runtime, _key)(_instance_event)


@on_event(runtime, USER_REGISTERED)
async def user_registered(session: AsyncSession, payload: dict[str, Any], event: dict) -> None:
    try:
        owner_id = uuid.UUID(str(payload["user_id"]))
    except (KeyError, ValueError):
        return
    email = str(payload.get("email") or "")[:254] or None
    await AccountDAO(session).ensure_wallet(owner_id, settings.currency, email)
