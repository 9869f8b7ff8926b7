"""The queue pages: sampling RabbitMQ, evaluating on-call thresholds, and reading history.

Sampling is one task per slot (QUEUE_SAMPLE_SECONDS): every task queue of the broker's vhost
gets one `queue_samples` row per slot (unique, so a re-run or a second beat stores nothing
twice), and only the run that stored a queue's row evaluates its thresholds. An alert episode
opens at most once (a partial unique index on open episodes) and owes each channel one
notification per episode and event (unique dedupe key): "fires once" is the database's.
"""

import uuid
from datetime import UTC, datetime, timedelta
from urllib.parse import unquote, urlsplit

from loguru import logger
from sqlalchemy.ext.asyncio import AsyncSession

from berth_common.errors import NotFound, Unprocessable
from berth_common.outbox import enqueue_task
from berth_monitoring.config import MonitoringSettings
from berth_monitoring.enums import NotificationEvent, SubjectKind
from berth_monitoring.names import QUEUE, Task
from berth_monitoring.queues import rabbit, schemas
from berth_monitoring.queues.dao import (
    DeployMarkerDAO,
    QueueAlertDAO,
    QueueNotificationDAO,
    QueueSampleDAO,
    QueueThresholdDAO,
    QueueWorkerDAO,
    TaskMinuteDAO,
)
from berth_monitoring.queues.enums import QueueAlertKind
from berth_monitoring.queues.models import QueueAlert, QueueThreshold
from berth_monitoring.queues.rules import (
    Limits,
    Point,
    breached,
    episode_changes,
    no_consumers_since,
    oldest_waiting_age,
    rate,
    search_from,
)


def broker_vhost(broker_url: str) -> str:
    """The vhost of an AMQP URL ('/' when the URL names none)."""
    path = urlsplit(broker_url).path
    return unquote(path[1:]) if len(path) > 1 else "/"


def slot_of(moment: datetime, seconds: int) -> datetime:
    """The start of the sample slot `moment` falls in."""
    epoch = int(moment.timestamp())
    return datetime.fromtimestamp(epoch - epoch % seconds, UTC)


async def sample_queues(
    session: AsyncSession, settings: MonitoringSettings, now: datetime | None = None
) -> int:
    """Store this slot's sample of every task queue; returns how many rows this run stored."""
    if not settings.broker_is_amqp:
        logger.info("queue sampling skipped: the broker is not RabbitMQ")
        return 0
    slot = slot_of(now or datetime.now(UTC), settings.queue_sample_seconds)
    try:
        facts = await rabbit.scrape(
            settings.rabbitmq_prometheus_url, broker_vhost(settings.broker_url)
        )
    except rabbit.BrokerFactsUnavailable as exc:
        logger.warning("queue sampling: {}", exc)
        return 0
    stored = 0
    for queue in sorted(facts):
        if await _sample_queue(session, settings, facts[queue], slot):
            stored += 1
    return stored


async def _sample_queue(
    session: AsyncSession, settings: MonitoringSettings, facts: rabbit.QueueFacts, slot: datetime
) -> bool:
    samples = QueueSampleDAO(session)
    previous = await samples.previous(facts.name, slot)
    grown = rabbit.advance_counters(previous.channels if previous else None, facts.channels)
    totals = {
        name: (getattr(previous, f"{name}_total") if previous else 0) + grown[name]
        for name in rabbit.COUNTERS
    }
    seconds = (slot - previous.slot_at).total_seconds() if previous else 0.0
    since = search_from(
        previous.slot_at if previous else None,
        previous.oldest_age_seconds if previous else None,
        slot - timedelta(days=settings.queue_history_days),
    )
    history = await samples.points(facts.name, since, slot)
    age = oldest_waiting_age(history, Point(slot, facts.ready, totals["delivered"]))
    zero_since = no_consumers_since(
        facts.consumers,
        slot,
        previous.no_consumers_since if previous else None,
        previous.consumers if previous else None,
    )
    stored = await samples.insert_once(
        {
            "queue": facts.name,
            "slot_at": slot,
            "ready": facts.ready,
            "unacked": facts.unacked,
            "consumers": facts.consumers,
            "published_total": totals["published"],
            "delivered_total": totals["delivered"],
            "acked_total": totals["acked"],
            "publish_rate": rate(grown["published"], seconds) if previous else None,
            "deliver_rate": rate(grown["delivered"], seconds) if previous else None,
            "ack_rate": rate(grown["acked"], seconds) if previous else None,
            "oldest_age_seconds": age,
            "no_consumers_since": zero_since,
            "channels": facts.channels,
        }
    )
    if stored:
        await evaluate_thresholds(
            session, settings, facts.name, at=slot, oldest_age=age, zero_since=zero_since
        )
    return stored


def _limits(threshold: QueueThreshold | None) -> Limits:
    if threshold is None:
        return Limits(None, None)
    return Limits(threshold.oldest_age_seconds, threshold.no_consumers_seconds)


async def evaluate_thresholds(
    session: AsyncSession,
    settings: MonitoringSettings,
    queue: str,
    *,
    at: datetime,
    oldest_age: float | None,
    zero_since: datetime | None,
) -> None:
    threshold = await QueueThresholdDAO(session).get(queue)
    now_breached = breached(
        _limits(threshold), at=at, oldest_age=oldest_age, zero_consumers_since=zero_since
    )
    alerts = QueueAlertDAO(session)
    open_alerts = await alerts.open_for(queue)
    to_open, to_close = episode_changes(
        {QueueAlertKind(kind) for kind in open_alerts}, now_breached
    )
    details = {
        "oldest_age_seconds": oldest_age,
        "no_consumers_since": zero_since.isoformat() if zero_since else None,
        "oldest_age_threshold": threshold.oldest_age_seconds if threshold else None,
        "no_consumers_threshold": threshold.no_consumers_seconds if threshold else None,
    }
    for kind in sorted(to_open):
        alert = await alerts.open_once(queue, kind, details)
        if alert is not None:
            logger.warning("queue {} alert opened: {}", queue, kind)
            await _notify(session, settings, threshold, alert, NotificationEvent.QUEUE_BREACH)
    for kind in sorted(to_close):
        alert = open_alerts[kind]
        await alerts.update(alert, closed_at=at)
        logger.info("queue {} alert closed: {}", queue, kind)
        await _notify(session, settings, threshold, alert, NotificationEvent.QUEUE_RECOVERED)


_SUMMARY = {
    (QueueAlertKind.OLDEST_AGE, NotificationEvent.QUEUE_BREACH): (
        "Queue {queue}: the oldest waiting message is older than {limit} s"
    ),
    (QueueAlertKind.OLDEST_AGE, NotificationEvent.QUEUE_RECOVERED): (
        "Queue {queue}: no message waits longer than {limit} s any more"
    ),
    (QueueAlertKind.NO_CONSUMERS, NotificationEvent.QUEUE_BREACH): (
        "Queue {queue}: no consumer for {limit} s"
    ),
    (QueueAlertKind.NO_CONSUMERS, NotificationEvent.QUEUE_RECOVERED): (
        "Queue {queue}: consumed again"
    ),
}


async def _notify(
    session: AsyncSession,
    settings: MonitoringSettings,
    threshold: QueueThreshold | None,
    alert: QueueAlert,
    event: NotificationEvent,
) -> None:
    """One notification per channel of the queue's thresholds for this episode and event."""
    if threshold is None or not threshold.channel_ids:
        return
    kind = QueueAlertKind(alert.kind)
    limit = (
        threshold.oldest_age_seconds
        if kind is QueueAlertKind.OLDEST_AGE
        else threshold.no_consumers_seconds
    )
    summary = _SUMMARY[(kind, event)].format(queue=alert.queue, limit=limit)
    notifications = QueueNotificationDAO(session)
    for channel in await notifications.channels(threshold.channel_ids):
        if not channel.is_enabled:
            continue
        notification_id = await notifications.add_once(
            {
                "owner_id": channel.owner_id,
                "channel_id": channel.id,
                "subject_kind": SubjectKind.QUEUE,
                "subject_id": alert.id,
                "event": event,
                "dedupe_key": f"queue:{alert.id}:{event}:{channel.id}",
                "payload": {
                    "summary": summary,
                    "queue": alert.queue,
                    "kind": kind,
                    "details": alert.details,
                    "url": f"{settings.public_url.rstrip('/')}/ops/queues/{alert.queue}",
                },
            }
        )
        if notification_id is not None:
            await enqueue_task(
                session,
                Task.DELIVER_NOTIFICATION,
                queue=QUEUE,
                kwargs={"notification_id": str(notification_id)},
            )


async def purge_history(session: AsyncSession, settings: MonitoringSettings) -> int:
    """Drop what is older than QUEUE_HISTORY_DAYS (samples, task minutes, workers, markers)."""
    cutoff = datetime.now(UTC) - timedelta(days=settings.queue_history_days)
    removed = await QueueSampleDAO(session).purge(cutoff)
    removed += await TaskMinuteDAO(session).purge(cutoff)
    removed += await QueueWorkerDAO(session).purge(cutoff)
    removed += await DeployMarkerDAO(session).purge(cutoff)
    return removed


async def set_threshold(
    session: AsyncSession,
    queue: str,
    update: schemas.QueueThresholdUpdate,
    viewer_id: uuid.UUID,
) -> schemas.QueueThreshold:
    """Thresholds of a sampled queue; new channels must be the caller's own."""
    if await QueueSampleDAO(session).previous(queue, datetime.now(UTC) + timedelta(days=1)) is None:
        raise NotFound(f"No queue {queue!r} has been sampled")
    current = await QueueThresholdDAO(session).get(queue)
    kept = set(current.channel_ids) if current else set()
    wanted = list(dict.fromkeys(update.channel_ids))
    found = {c.id: c for c in await QueueNotificationDAO(session).channels(wanted)}
    for channel_id in wanted:
        channel = found.get(channel_id)
        if channel is None or (channel.owner_id != viewer_id and channel_id not in kept):
            raise Unprocessable(
                "Alert channels must be your own", details={"channel_id": str(channel_id)}
            )
    row = await QueueThresholdDAO(session).put(
        {
            "queue": queue,
            "oldest_age_seconds": update.oldest_age_seconds,
            "no_consumers_seconds": update.no_consumers_seconds,
            "channel_ids": wanted,
            "updated_by": viewer_id,
        }
    )
    return schemas.QueueThreshold.model_validate(row)
