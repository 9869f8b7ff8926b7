"""What the queue pages show: every queue now, one queue's history over a window, and
whether RabbitMQ's facts are current at all (never old numbers shown as live)."""

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from berth_common.errors import NotFound
from berth_monitoring.config import MonitoringSettings
from berth_monitoring.queues import schemas
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
from berth_monitoring.queues.models import QueueSample, QueueThreshold
from berth_monitoring.queues.rules import p95

WINDOWS = {"1h": timedelta(hours=1), "24h": timedelta(hours=24), "7d": timedelta(days=7)}
CHART_POINTS = 360  # at most this many points per chart (one per sample when they are fewer)
LISTED_FOR = timedelta(hours=1)
STALE_SAMPLES = 4  # no sample for this many slots: the facts are unavailable


def facts_status(settings: MonitoringSettings, last: datetime | None) -> schemas.FactsStatus:
    reason = None
    if not settings.broker_is_amqp:
        reason = "The broker is not RabbitMQ (the embedded fallback): no queue facts."
    elif last is None:
        reason = "No sample in the last hour: is RabbitMQ's Prometheus endpoint reachable?"
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
    # a queue not sampled for an hour is gone (deleted, or a test's): not listed any more
    latest = await QueueSampleDAO(session).latest_per_queue(datetime.now(UTC) - LISTED_FOR)
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
