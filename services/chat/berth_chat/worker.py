"""The chat service's Celery app: queue "chat" (agent requests), its beat (retention).

Run: `celery -A berth_chat.worker worker -Q chat` and exactly one
`celery -A berth_chat.worker beat`.
"""

from berth_chat.config import get_settings
from berth_chat.models import SCHEMA, Base
from berth_chat.names import CONSUMED_EVENTS, QUEUE, Task
from berth_common.worker import (
    WorkerRuntime,
    create_celery,
    register_event_task,
    reset_runtime_after_fork,
)

settings = get_settings()

celery_app = create_celery(
    settings,
    queue=QUEUE,
    include=["berth_chat.tasks"],
    consumes_events=CONSUMED_EVENTS,
    beat_schedule={
        Task.PURGE_OLD: {
            "task": Task.PURGE_OLD,
            "schedule": 60 * 60.0,
            "options": {"queue": QUEUE, "expires": 55 * 60},
        },
    },
)
worker_runtime = WorkerRuntime(settings, SCHEMA, Base.metadata)
reset_runtime_after_fork(worker_runtime)
event_task = register_event_task(celery_app, worker_runtime)
