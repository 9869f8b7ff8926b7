"""The queue pages: sampling RabbitMQ, evaluating on-call thresholds, and reading history.

Sampling is one task per slot (QUEUE_SAMPLE_SECONDS): every task queue of the broker's vhost
gets one `queue_samples` row per slot (unique, so a re-run or a second beat stores nothing
twice), and only the run that stored a queue's row evaluates its thresholds. An alert episode
opens at most once (a partial unique index on open episodes) and owes each channel one
notification per episode and event (unique dedupe key): "fires once" is the database's.
"""

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any
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
from berth_monitoring.queues.models import QueueAlert, QueueSample, QueueThreshold
from berth_monitoring.queues.rules import (
    Limits,
    Point,
    breached,
    episode_changes,
    no_consumers_since,
    oldest_waiting_age,
    rate,
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
    history = await samples.waiting_run(
        facts.name, slot - timedelta(days=settings.queue_history_days), slot
    )
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


WINDOWS = {"1h": timedelta(hours=1), "24h": timedelta(hours=24), "7d": timedelta(days=7)}
CHART_POINTS = 360  # at most this many points per chart (one per sample when they are fewer)
STALE_SAMPLES = 4  # no sample for this many slots: the facts are unavailable


def facts_status(settings: MonitoringSettings, last: datetime | None) -> schemas.FactsStatus:
    reason = None
    if not settings.broker_is_amqp:
        reason = "The broker is not RabbitMQ (the embedded fallback): no queue facts."
    elif last is None:
        reason = "No sample yet: is RabbitMQ's Prometheus endpoint reachable?"
    elif datetime.now(UTC) - last > timedelta(
        seconds=STALE_SAMPLES * settings.queue_sample_seconds
    ):
        reason = (
            f"No sample since {last.isoformat()}: RabbitMQ's Prometheus endpoint is not answering."
        )
    return schemas.FactsStatus(
        available=reason is None,
        reason=reason,
        sample_seconds=settings.queue_sample_seconds,
        last_sampled_at=last,
    )


def _threshold(row: QueueThreshold | None) -> schemas.QueueThreshold | None:
    return None if row is None else schemas.QueueThreshold.model_validate(row)


async def queue_list(session: AsyncSession, settings: MonitoringSettings) -> schemas.QueueList:
    latest = await QueueSampleDAO(session).latest_per_queue()
    workers = await QueueWorkerDAO(session).online_counts()
    thresholds = await QueueThresholdDAO(session).all_by_queue()
    open_alerts: dict[str, list[QueueAlertKind]] = {}
    for alert in await QueueAlertDAO(session).open_all():
        open_alerts.setdefault(alert.queue, []).append(QueueAlertKind(alert.kind))
    queues = [
        _queue_now(
            s, workers.get(s.queue, 0), open_alerts.get(s.queue, []), thresholds.get(s.queue)
        )
        for s in latest
    ]
    last = max((s.slot_at for s in latest), default=None)
    return schemas.QueueList(facts=facts_status(settings, last), queues=queues)


def _queue_now(
    sample: QueueSample,
    workers_online: int,
    open_alerts: list[QueueAlertKind],
    threshold: QueueThreshold | None,
) -> schemas.QueueNow:
    return schemas.QueueNow(
        name=sample.queue,
        sampled_at=sample.slot_at,
        ready=sample.ready,
        unacked=sample.unacked,
        consumers=sample.consumers,
        publish_rate=sample.publish_rate,
        deliver_rate=sample.deliver_rate,
        ack_rate=sample.ack_rate,
        oldest_age_seconds=sample.oldest_age_seconds,
        no_consumers_since=sample.no_consumers_since,
        workers_online=workers_online,
        open_alerts=sorted(open_alerts),
        threshold=_threshold(threshold),
        flower_path=f"/ops/flower/{sample.queue}/",
    )


def _task_stats(row: Any, buckets: list[int] | None) -> schemas.TaskStats:
    from berth_monitoring.queues.events import p95

    runs = int(row.succeeded or 0)
    return schemas.TaskStats(
        task=row.task,
        received=int(row.received or 0),
        succeeded=runs,
        failed=int(row.failed or 0),
        retried=int(row.retried or 0),
        runtime_avg=round(row.runtime_sum / runs, 4) if runs else None,
        runtime_max=row.runtime_max if runs else None,
        runtime_p95=p95(buckets) if buckets else None,
    )


async def queue_detail(
    session: AsyncSession,
    settings: MonitoringSettings,
    queue: str,
    window: str,
    viewer_id: uuid.UUID,
) -> schemas.QueueDetail:
    samples = QueueSampleDAO(session)
    span = WINDOWS[window]
    bucket = max(settings.queue_sample_seconds, int(span.total_seconds()) // CHART_POINTS)
    since = datetime.now(UTC) - span
    latest = await samples.previous(queue, datetime.now(UTC) + timedelta(days=1))
    threshold = await QueueThresholdDAO(session).get(queue)
    if latest is None and threshold is None:
        raise NotFound(f"No queue {queue!r} has been sampled")
    minutes = TaskMinuteDAO(session)
    histograms: dict[str, list[int]] = {}
    for task, row_buckets in await minutes.buckets(queue, since):
        mine = histograms.setdefault(task, [0] * len(row_buckets))
        histograms[task] = [a + b for a, b in zip(mine, row_buckets, strict=False)]
    tasks = [
        _task_stats(row, histograms.get(row.task)) for row in await minutes.by_task(queue, since)
    ]
    tasks.sort(key=lambda t: (-(t.failed + t.retried), t.task))
    slowest = sorted(
        (t for t in tasks if t.runtime_max is not None),
        key=lambda t: -(t.runtime_p95 or t.runtime_max or 0),
    )[:10]
    workers = await QueueWorkerDAO(session).for_queue(queue)
    alerts = await QueueAlertDAO(session).recent(queue)
    open_kinds = [QueueAlertKind(a.kind) for a in alerts if a.closed_at is None]
    series = [
        schemas.SeriesPoint(
            at=row.at,
            ready=row.ready,
            unacked=row.unacked,
            consumers=row.consumers,
            oldest_age_seconds=row.oldest_age_seconds,
            publish_rate=_round(row.publish_rate),
            deliver_rate=_round(row.deliver_rate),
            ack_rate=_round(row.ack_rate),
        )
        for row in await samples.series(queue, since, bucket)
    ]
    return schemas.QueueDetail(
        facts=facts_status(settings, latest.slot_at if latest else None),
        window=window,  # type: ignore[arg-type]
        queue=_queue_now(latest, sum(w.online for w in workers), open_kinds, threshold)
        if latest
        else None,
        series=series,
        tasks=tasks,
        slowest=slowest,
        workers=[schemas.Worker.model_validate(w) for w in workers],
        deploy_markers=[
            schemas.DeployMarker.model_validate(m)
            for m in await DeployMarkerDAO(session).for_queue(queue, since)
        ],
        alerts=[schemas.QueueAlert.model_validate(a) for a in alerts],
        threshold=_threshold(threshold),
        my_channels=[
            schemas.MyChannel.model_validate(c)
            for c in await QueueNotificationDAO(session).owned_by(viewer_id)
        ],
    )


def _round(value: float | None) -> float | None:
    return None if value is None else round(float(value), 3)


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
