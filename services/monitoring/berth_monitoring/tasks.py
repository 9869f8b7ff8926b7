"""Celery tasks and event handlers of monitoring: ids and JSON in, a service call, done."""

import uuid
from typing import Any

from loguru import logger
from sqlalchemy.ext.asyncio import AsyncSession

from berth_common.errors import TransientError
from berth_common.mail import SEND_MAX_RETRIES
from berth_common.worker import on_event, service_task
from berth_monitoring import mail
from berth_monitoring.alerts import delivery
from berth_monitoring.checks import service as checks
from berth_monitoring.checks.probes import Prober
from berth_monitoring.names import CONSUMED_EVENTS, Task
from berth_monitoring.platform import service as platform
from berth_monitoring.results import service as results
from berth_monitoring.targets import TargetPolicy
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


# deploy's and billing's events keep the platform's monitors of apps (platform/service.py)
async def platform_event(session: AsyncSession, payload: dict[str, Any], event: dict) -> None:
    await platform.handle(session, settings, event["key"], payload)


for _key in CONSUMED_EVENTS:
    on_event(worker_runtime, _key)(platform_event)


async def run_due_checks() -> None:
    """One run of the checker (its batches own their transactions)."""
    policy = TargetPolicy.from_settings(settings)
    async with Prober(settings, policy, concurrency=settings.check_concurrency) as prober:
        stats = await checks.run_checks(worker_runtime.in_transaction, settings, prober)
    if stats.checks:
        drift = sorted(stats.drift_ms)
        logger.info(
            "checked {} monitors in {} batches ({} failing), drift p99 {} ms",
            stats.checks,
            stats.batches,
            stats.failures,
            drift[int(len(drift) * 0.99)] if drift else 0,
        )


async def rollup_results(session: AsyncSession) -> None:
    await results.rollup(session)


async def apply_retention(session: AsyncSession) -> None:
    done = await results.retention(session, settings)
    logger.info("results retention: {}", done)


# a run lost to a dead worker is not retried: the next beat tick starts a fresh one, and the
# monitors it had claimed are still due (their transaction never committed)
run_checks_task = service_task(
    celery_app,
    worker_runtime,
    Task.RUN_CHECKS,
    in_transaction=False,
    autoretry_for=(),
    max_retries=0,
    soft_time_limit=int(settings.check_run_seconds) + 120,
    time_limit=int(settings.check_run_seconds) + 150,
)(run_due_checks)
rollup_task = service_task(celery_app, worker_runtime, Task.ROLLUP, max_retries=3)(rollup_results)
retention_task = service_task(
    celery_app, worker_runtime, Task.RETENTION, max_retries=5, soft_time_limit=300, time_limit=360
)(apply_retention)
