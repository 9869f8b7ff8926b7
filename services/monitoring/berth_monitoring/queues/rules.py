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
from datetime import datetime

from berth_monitoring.queues.enums import QueueAlertKind


@dataclass(frozen=True)
class Point:
    """One sample of one queue: when, how many ready, deliveries counted since sampling began."""

    at: datetime
    ready: int
    delivered_total: int


def oldest_waiting_age(history: Sequence[Point], now: Point) -> float | None:
    """Seconds the message at the head has waited at least (None: nothing is waiting).

    `history` is this queue's earlier samples, oldest first; only the samples after the last
    one where the head of now was not yet waiting matter.
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
