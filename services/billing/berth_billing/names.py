"""Billing's queue, task and event names, defined once for the worker and every caller.

Plain strings (no Celery app, no enum to pickle into beat's schedule file), so services can
enqueue by name through the outbox without importing the worker.
"""

from typing import Final

from berth_common.tiers import ACCOUNT_TIER_CHANGED

# billing's Celery queue (and its topic exchange and routing key)
QUEUE: Final = "billing"


class Task:
    """Dotted names of billing's Celery tasks: `billing.<domain>.<verb>`."""

    CHARGE_HOUR: Final = "billing.metering.charge_hour"
    RUN_DUE_METERING: Final = "billing.metering.run_due"
    CHECK_ACCOUNTS: Final = "billing.dunning.check"
    RUN_INVOICES: Final = "billing.invoices.run"
    FINALIZE_INVOICES: Final = "billing.invoices.finalize"
    DELIVER_WEBHOOK: Final = "billing.sandbox.deliver_webhook"
    PURGE: Final = "billing.maintenance.purge"
    REQUEUE_STALE_MAIL: Final = "billing.mail.requeue_stale"


class Event:
    """Domain events billing publishes."""

    ACCOUNT_SUSPENDED: Final = "billing.account.suspended"
    ACCOUNT_UNSUSPENDED: Final = "billing.account.unsuspended"
    ACCOUNT_TIER_CHANGED: Final = ACCOUNT_TIER_CHANGED


# deploy's events that move usage intervals
INSTANCE_EVENTS = (
    "deploy.instance.started",
    "deploy.instance.stopped",
    "deploy.instance.suspended",
    "deploy.instance.deleted",
)
USER_REGISTERED = "auth.user.registered"
