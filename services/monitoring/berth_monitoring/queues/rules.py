"""The queue pages' rules, as plain functions: the oldest waiting message's age, rates, when a
queue had no consumer since, and when a threshold opens or closes an alert episode.

Oldest waiting message (README, "Queue pages"). Berth's task queues are quorum queues, and
RabbitMQ 3.10 reports `head_message_timestamp` for classic queues only, so the age is derived
from the samples instead. A queue is first in, first out: the message at its head now is the
(D_now + 1)-th message ever taken from it, where D counts deliveries (and basic.gets). At an
earlier sample s the queue had taken D_s messages and held ready_s more, so the head of now was
already waiting at s exactly when ready_s + D_s > D_now. The age is now minus the earliest sample
of the unbroken run of such samples: a lower bound, exact to one sample interval. A message put
back (a reject or a lost consumer's unacked messages) makes the bound younger, never older.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from berth_monitoring.queues.enums import QueueAlertKind

# upper bounds (seconds) of the runtime histogram kept per queue, task and minute
RUNTIME_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 600.0)


def p95(buckets: list[int]) -> float | None:
    """The upper bound of the histogram bucket holding the 95th percentile run."""
    total = sum(buckets)
    if total == 0:
        return None
    seen = 0
    for bound, count in zip((*RUNTIME_BUCKETS, float("inf")), buckets, strict=True):
        seen += count
        if seen >= 0.95 * total:
            return bound
    return None


@dataclass(frozen=True)
class Point:
    """One sample of one queue: when, how many ready, deliveries counted since sampling began."""

    at: datetime
    ready: int
    delivered_total: int


def oldest_waiting_age(history: Sequence[Point], now: Point) -> float | None:
    """Seconds the message at the head has waited at least (None: nothing is waiting).

    `history` is this queue's earlier samples, oldest first. Only those since the previous
    sample's head arrived matter: the head of now is that one or a later one (`search_from`).
    """
    if now.ready <= 0:
        return None
    since = now.at
    for point in reversed(history):
        if point.at >= now.at:
            continue
        if point.ready + point.delivered_total <= now.delivered_total:
            break
        since = point.at
    return (now.at - since).total_seconds()


def search_from(
    previous_at: datetime | None, previous_age: float | None, default: datetime
) -> datetime:
    """The earliest sample at which the head of now can have been waiting: the one at which
    the previous sample's head was first seen waiting (the queue is first in, first out)."""
    if previous_at is None:
        return default
    if previous_age is None:
        return previous_at  # the queue was empty then: its head now came later
    return previous_at - timedelta(seconds=previous_age)


def rate(grown: int, seconds: float) -> float | None:
    """Messages per second over the interval since the previous sample."""
    if seconds <= 0:
        return None
    return round(grown / seconds, 3)


def no_consumers_since(
    consumers: int, at: datetime, previous_since: datetime | None, previous_consumers: int | None
) -> datetime | None:
    """Since when the queue has had no consumer (None while it has one)."""
    if consumers > 0:
        return None
    if previous_consumers == 0 and previous_since is not None:
        return previous_since
    return at


@dataclass(frozen=True)
class Limits:
    """An on-call engineer's thresholds for one queue (None: not watched)."""

    oldest_age_seconds: int | None
    no_consumers_seconds: int | None


def breached(
    limits: Limits, *, at: datetime, oldest_age: float | None, zero_consumers_since: datetime | None
) -> set[QueueAlertKind]:
    """Which of the thresholds the queue is past at this sample."""
    kinds: set[QueueAlertKind] = set()
    if (
        limits.oldest_age_seconds is not None
        and oldest_age is not None
        and oldest_age > limits.oldest_age_seconds
    ):
        kinds.add(QueueAlertKind.OLDEST_AGE)
    if (
        limits.no_consumers_seconds is not None
        and zero_consumers_since is not None
        and (at - zero_consumers_since).total_seconds() >= limits.no_consumers_seconds
    ):
        kinds.add(QueueAlertKind.NO_CONSUMERS)
    return kinds


def episode_changes(
    open_kinds: set[QueueAlertKind], now_breached: set[QueueAlertKind]
) -> tuple[set[QueueAlertKind], set[QueueAlertKind]]:
    """(episodes to open, episodes to close): one alert per breach, one recovery per end."""
    return now_breached - open_kinds, open_kinds - now_breached
