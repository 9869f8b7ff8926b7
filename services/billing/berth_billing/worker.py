"""The billing service's Celery app: its queue (`names.QUEUE`), beat schedule, runtime.

Run: `celery -A berth_billing.worker worker -Q billing`
and exactly one `celery -A berth_billing.worker beat`.
"""

from celery.schedules import crontab

from berth_billing.config import get_settings
from berth_billing.models import SCHEMA, Base
from berth_billing.names import INSTANCE_EVENTS, QUEUE, USER_REGISTERED, Task
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
    queue=QUEUE,
    include=["berth_billing.tasks"],
    consumes_events=[*INSTANCE_EVENTS, USER_REGISTERED],
    beat_schedule={
        # a few minutes past the hour: every closed hour of the look-back window
        Task.RUN_DUE_METERING: {
            "task": Task.RUN_DUE_METERING,
            "schedule": crontab(minute="2"),
            "options": {"queue": QUEUE, "expires": 50 * 60},
        },
        Task.CHECK_ACCOUNTS: {
            "task": Task.CHECK_ACCOUNTS,
            "schedule": float(CHECK_EVERY_SECONDS),
            "options": {"queue": QUEUE, "expires": CHECK_EVERY_SECONDS - 5},
        },
        # statements of the month that ended, after its last hour was metered
        Task.RUN_INVOICES: {
            "task": Task.RUN_INVOICES,
            "schedule": crontab(day_of_month="1", hour="3", minute="0"),
            "options": {"queue": QUEUE, "expires": 6 * 3600},
        },
        Task.PURGE: {
            "task": Task.PURGE,
            "schedule": crontab(hour="4", minute="17"),
            "options": {"queue": QUEUE, "expires": 3600},
        },
        Task.REQUEUE_STALE_MAIL: {
            "task": Task.REQUEUE_STALE_MAIL,
            "schedule": 15 * 60.0,
            "options": {"queue": QUEUE, "expires": 14 * 60},
        },
    },
)
runtime = WorkerRuntime(settings, SCHEMA, Base.metadata)
reset_runtime_after_fork(runtime)
event_task = register_event_task(app, runtime)
