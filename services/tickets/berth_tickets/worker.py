"""The tickets service's Celery app: queue "tickets", its beat, the events it consumes.

Run: `celery -A berth_tickets.worker worker -Q tickets` and exactly one
`celery -A berth_tickets.worker beat`.
"""

from berth_common.worker import (
    WorkerRuntime,
    create_celery,
    register_event_task,
    reset_runtime_after_fork,
)
from berth_tickets.config import get_settings
from berth_tickets.models import SCHEMA, Base
from berth_tickets.names import CONSUMED_EVENTS, QUEUE, Task

settings = get_settings()

celery_app = create_celery(
    settings,
    queue=QUEUE,
    include=["berth_tickets.tasks"],
    consumes_events=CONSUMED_EVENTS,
    beat_schedule={
        Task.CHECK_SLA: {
            "task": Task.CHECK_SLA,
            "schedule": 60.0,
            "options": {"queue": QUEUE, "expires": 55},
        },
        Task.AUTO_CLOSE: {
            "task": Task.AUTO_CLOSE,
            "schedule": 10 * 60.0,
            "options": {"queue": QUEUE, "expires": 9 * 60},
        },
        Task.INBOUND_UPKEEP: {
            "task": Task.INBOUND_UPKEEP,
            "schedule": 10 * 60.0,
            "options": {"queue": QUEUE, "expires": 9 * 60},
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
