"""The auth service's Celery app: queue "auth", beat schedule, per-process runtime.

Run: `celery -A berth_auth.worker worker -Q auth`
and exactly one `celery -A berth_auth.worker beat`.
"""

from berth_auth.config import get_settings
from berth_auth.mail import MAILER
from berth_auth.models import SCHEMA, Base
from berth_auth.names import PURGE_TASK, QUEUE
from berth_common.worker import (
    WorkerRuntime,
    create_celery,
    register_event_task,
    reset_runtime_after_fork,
)

PURGE_EVERY_SECONDS = 15 * 60

settings = get_settings()

app = create_celery(
    settings,
    queue=QUEUE,
    include=["berth_auth.tasks"],
    beat_schedule={
        PURGE_TASK: {
            "task": PURGE_TASK,
            "schedule": float(PURGE_EVERY_SECONDS),
            # a purge that could not start before the next one is due is simply skipped
            "options": {"queue": QUEUE, "expires": PURGE_EVERY_SECONDS - 60},
        },
        MAILER.requeue_task: {
            "task": MAILER.requeue_task,
            "schedule": float(PURGE_EVERY_SECONDS),
            "options": {"queue": QUEUE, "expires": PURGE_EVERY_SECONDS - 60},
        },
    },
)
runtime = WorkerRuntime(settings, SCHEMA, Base.metadata)
reset_runtime_after_fork(runtime)
event_task = register_event_task(app, runtime)
