"""The billing service's Celery app: queue "billing", beat schedule, per-process runtime.

Run: `celery -A berth_billing.worker worker -Q billing`
and exactly one `celery -A berth_billing.worker beat`.
"""

from celery.schedules import crontab

from berth_billing.config import get_settings
from berth_billing.models import SCHEMA, Base
from berth_common.worker import (
    WorkerRuntime,
    create_celery,
    register_event_task,
    reset_runtime_after_fork,
)

CHECK_EVERY_SECONDS = 60

settings = get_settings()

app = create_celery(
    settings,
    queue="billing",
    include=["berth_billing.tasks"],
    consumes_events=[
        "deploy.instance.started",
        "deploy.instance.stopped",
        "deploy.instance.suspended",
        "deploy.instance.deleted",
        "auth.user.registered",
    ],
    beat_schedule={
        # a few minutes past the hour: every closed hour of the look-back window
        "billing.metering.run_due": {
            "task": "billing.metering.run_due",
            "schedule": crontab(minute="2"),
            "options": {"queue": "billing", "expires": 50 * 60},
        },
        "billing.dunning.check": {
            "task": "billing.dunning.check",
            "schedule": float(CHECK_EVERY_SECONDS),
            "options": {"queue": "billing", "expires": CHECK_EVERY_SECONDS - 5},
        },
        # statements of the month that ended, after its last hour was metered
        "billing.invoices.run": {
            "task": "billing.invoices.run",
            "schedule": crontab(day_of_month="1", hour="3", minute="0"),
            "options": {"queue": "billing", "expires": 6 * 3600},
        },
        "billing.maintenance.purge": {
            "task": "billing.maintenance.purge",
            "schedule": crontab(hour="4", minute="17"),
            "options": {"queue": "billing", "expires": 3600},
        },
        "billing.mail.requeue_stale": {
            "task": "billing.mail.requeue_stale",
            "schedule": 15 * 60.0,
            "options": {"queue": "billing", "expires": 14 * 60},
        },
    },
)
runtime = WorkerRuntime(settings, SCHEMA, Base.metadata)
reset_runtime_after_fork(runtime)
event_task = register_event_task(app, runtime)
