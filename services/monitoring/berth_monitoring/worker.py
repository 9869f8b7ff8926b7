"""The monitoring service's Celery app: queue "monitoring", its beat, the events it consumes.

Run: `celery -A berth_monitoring.worker worker -Q monitoring` and exactly one
`celery -A berth_monitoring.worker beat`. Checks are not one task each: beat fires
`Task.RUN_CHECKS` often, and one task runs every due monitor in async batches.
"""

from berth_common.worker import (
    WorkerRuntime,
    create_celery,
    register_event_task,
    reset_runtime_after_fork,
)
from berth_monitoring.config import get_settings
from berth_monitoring.models import SCHEMA, Base
from berth_monitoring.names import CONSUMED_EVENTS, QUEUE, Task

settings = get_settings()

celery_app = create_celery(
    settings,
    queue=QUEUE,
    include=["berth_monitoring.tasks", "berth_monitoring.queues.tasks"],
    consumes_events=CONSUMED_EVENTS,
    beat_schedule={
        # the checker: each run keeps checking for check_run_seconds, then the next takes over
        Task.RUN_CHECKS: {
            "task": Task.RUN_CHECKS,
            "schedule": settings.check_run_seconds,
            "options": {"queue": QUEUE, "expires": settings.check_run_seconds},
        },
        Task.ROLLUP: {
            "task": Task.ROLLUP,
            "schedule": 60.0,
            "options": {"queue": QUEUE, "expires": 55},
        },
        Task.RETENTION: {
            "task": Task.RETENTION,
            "schedule": 3600.0,
            "options": {"queue": QUEUE, "expires": 3000},
        },
        # queue pages: one sample of every queue per slot, history kept QUEUE_HISTORY_DAYS
        Task.SAMPLE_QUEUES: {
            "task": Task.SAMPLE_QUEUES,
            "schedule": float(settings.queue_sample_seconds),
            "options": {"queue": QUEUE, "expires": settings.queue_sample_seconds},
        },
        Task.PURGE_QUEUE_HISTORY: {
            "task": Task.PURGE_QUEUE_HISTORY,
            "schedule": 3600.0,
            "options": {"queue": QUEUE, "expires": 3000},
        },
        Task.REQUEUE_STALE_MAIL: {
            "task": Task.REQUEUE_STALE_MAIL,
            "schedule": 15 * 60.0,
            "options": {"queue": QUEUE, "expires": 14 * 60},
        },
    },
)
worker_runtime = WorkerRuntime(settings, SCHEMA, Base.metadata)
reset_runtime_after_fork(worker_runtime)
event_task = register_event_task(celery_app, worker_runtime)
