"""The queue pages' kinds, each a StrEnum stored as its value."""

from enum import StrEnum


class QueueAlertKind(StrEnum):
    OLDEST_AGE = "oldest_age"  # the oldest waiting message is older than the threshold
    NO_CONSUMERS = "no_consumers"  # no consumer for longer than the threshold


class TaskOutcome(StrEnum):
    """The Celery task events counted per queue, task and minute."""

    SENT = "sent"
    RECEIVED = "received"
    STARTED = "started"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    RETRIED = "retried"
