"""The deploy service's Celery app: queue "deploy", its beat, the billing events it consumes,
and this node's own queue `deploy.node.<DEPLOY_NODE_NAME>` (the operations of the apps placed
on this node: nodes/placement.py).

Run: `celery -A berth_deploy.worker worker -Q deploy` (Celery finds `celery_app`, the
module's only Celery instance; a worker consumes its node's queue as well, whatever `-Q`
says) and exactly one `celery -A berth_deploy.worker beat`. A node on a host of its own runs
`celery -A berth_deploy.worker worker -Q deploy.node.<name>` (README "App nodes"). The
beat asks for platform-wide upkeep: polling the apps' remotes, deleting idle preview apps.
Periodic work on the node (process supervision, lease reaping, route reconciliation) is the
node supervisor's
(`python -m berth_deploy.supervisor`), which must keep ticking while builds fill every
worker slot.
"""

from typing import Any

from celery.signals import celeryd_after_setup

from berth_common.worker import (
    WorkerRuntime,
    create_celery,
    register_event_task,
    reset_runtime_after_fork,
)
from berth_deploy.config import get_settings
from berth_deploy.models import SCHEMA, Base
from berth_deploy.names import (
    ACCOUNT_SUSPENDED,
    ACCOUNT_UNSUSPENDED,
    EXPIRE_PREVIEWS_TASK,
    POLL_TASK,
    PURGE_CONSOLE_TOKENS_TASK,
    QUEUE,
    node_queue,
)

settings = get_settings()
NODE_QUEUE = node_queue(settings.node_name)

celery_app = create_celery(
    settings,
    queue=QUEUE,
    include=["berth_deploy.tasks"],
    consumes_events=[ACCOUNT_SUSPENDED, ACCOUNT_UNSUSPENDED],
    extra_queues=[NODE_QUEUE],
    beat_schedule={
        EXPIRE_PREVIEWS_TASK: {
            "task": EXPIRE_PREVIEWS_TASK,
            "schedule": 10 * 60.0,
            "options": {"queue": QUEUE, "expires": 9 * 60},
        },
        # apps whose poll interval has passed; a tick not run by then is dropped (the next
        # one claims what is due)
        # console tokens live a minute; spent and expired ones go after a day (the sessions'
        # audit stays)
        PURGE_CONSOLE_TOKENS_TASK: {
            "task": PURGE_CONSOLE_TOKENS_TASK,
            "schedule": 60 * 60.0,
            "options": {"queue": QUEUE, "expires": 59 * 60},
        },
        POLL_TASK: {
            "task": POLL_TASK,
            "schedule": settings.poll_tick_seconds,
            "options": {"queue": QUEUE, "expires": settings.poll_tick_seconds},
        },
    },
)


@celeryd_after_setup.connect
def consume_node_queue(sender: str, instance: Any, **kwargs: Any) -> None:
    """Every deploy worker runs its node's operations (Celery's documented way to add a
    queue to a worker's `-Q`)."""
    queues = instance.app.amqp.queues
    queues.select_add(queues[NODE_QUEUE])  # the declared one (quorum), not a plain new one


worker_runtime = WorkerRuntime(settings, SCHEMA, Base.metadata)
reset_runtime_after_fork(worker_runtime)
event_task = register_event_task(celery_app, worker_runtime)
