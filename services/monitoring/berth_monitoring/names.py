"""Monitoring's queue, task and event names, defined once for the worker and every caller."""

from typing import Final

QUEUE: Final = "monitoring"


class Task:
    """Dotted names of monitoring's Celery tasks: `monitoring.<domain>.<verb>`."""

    RUN_CHECKS: Final = "monitoring.checks.run_due"
    ROLLUP: Final = "monitoring.results.rollup"
    RETENTION: Final = "monitoring.results.retention"
    DELIVER_NOTIFICATION: Final = "monitoring.alerts.deliver"
    SEND_MAIL: Final = "monitoring.mail.send"
    REQUEUE_STALE_MAIL: Final = "monitoring.mail.requeue_stale"
    SAMPLE_QUEUES: Final = "monitoring.queues.sample"
    PURGE_QUEUE_HISTORY: Final = "monitoring.queues.purge"


class Event:
    """Domain events monitoring publishes (tickets subscribe to incidents)."""

    INCIDENT_OPENED: Final = "monitoring.incident.opened"
    INCIDENT_RESOLVED: Final = "monitoring.incident.resolved"


# what monitoring reacts to: apps starting and ending, deploys, suspensions
INSTANCE_STARTED: Final = "deploy.instance.started"
INSTANCE_STOPPED: Final = "deploy.instance.stopped"
INSTANCE_SUSPENDED: Final = "deploy.instance.suspended"
INSTANCE_DELETED: Final = "deploy.instance.deleted"
OPERATION_STARTED: Final = "deploy.operation.started"
OPERATION_FINISHED: Final = "deploy.operation.finished"
ACCOUNT_SUSPENDED: Final = "billing.account.suspended"
ACCOUNT_UNSUSPENDED: Final = "billing.account.unsuspended"

CONSUMED_EVENTS: Final = (
    INSTANCE_STARTED,
    INSTANCE_STOPPED,
    INSTANCE_SUSPENDED,
    INSTANCE_DELETED,
    OPERATION_STARTED,
    OPERATION_FINISHED,
    ACCOUNT_SUSPENDED,
    ACCOUNT_UNSUSPENDED,
)
