"""Every query of the queue pages. Only flush; the task wrapper or request commits."""

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import and_, delete, func, literal_column, select, update
from sqlalchemy.dialects.postgresql import insert

from berth_common.dao import BaseDAO
from berth_monitoring.models import AlertChannel, Notification
from berth_monitoring.queues.models import (
    QueueAlert,
    QueueDeployMarker,
    QueueSample,
    QueueTaskMinute,
    QueueThreshold,
    QueueWorker,
)
from berth_monitoring.queues.rules import Point


class QueueSampleDAO(BaseDAO[QueueSample]):
    model = QueueSample

    async def previous(self, queue: str, before: datetime) -> QueueSample | None:
        stmt = (
            select(QueueSample)
            .where(QueueSample.queue == queue, QueueSample.slot_at < before)
            .order_by(QueueSample.slot_at.desc())
            .limit(1)
        )
        return (await self.session.execute(stmt)).scalars().first()

    async def insert_once(self, values: dict[str, Any]) -> bool:
        """Store the sample of a slot; False when this slot of this queue is stored already."""
        stmt = (
            insert(QueueSample)
            .values(**values)
            .on_conflict_do_nothing(constraint="uq_queue_samples_slot")
            .returning(QueueSample.id)
        )
        return (await self.session.execute(stmt)).scalar() is not None

    async def points(self, queue: str, since: datetime, before: datetime) -> list[Point]:
        """The queue's samples in [since, before), oldest first (for the oldest-age search)."""
        stmt = (
            select(QueueSample.slot_at, QueueSample.ready, QueueSample.delivered_total)
            .where(
                QueueSample.queue == queue,
                QueueSample.slot_at >= since,
                QueueSample.slot_at < before,
            )
            .order_by(QueueSample.slot_at)
        )
        rows = (await self.session.execute(stmt)).all()
        return [Point(at, ready, delivered) for at, ready, delivered in rows]

    async def latest_per_queue(self, since: datetime) -> Sequence[QueueSample]:
        """Each queue's latest sample, of the queues sampled since `since`."""
        latest = (
            select(QueueSample.queue, func.max(QueueSample.slot_at).label("slot_at"))
            .where(QueueSample.slot_at >= since)
            .group_by(QueueSample.queue)
            .subquery()
        )
        stmt = (
            select(QueueSample)
            .join(
                latest,
                and_(QueueSample.queue == latest.c.queue, QueueSample.slot_at == latest.c.slot_at),
            )
            .order_by(QueueSample.queue)
        )
        return (await self.session.execute(stmt)).scalars().all()

    async def series(self, queue: str, since: datetime, bucket_seconds: int) -> list[Any]:
        """The queue's samples since `since`, averaged per bucket (the chart's points)."""
        bucket = func.to_timestamp(
            func.floor(func.extract("epoch", QueueSample.slot_at) / bucket_seconds) * bucket_seconds
        ).label("at")
        stmt = (
            select(
                bucket,
                func.max(QueueSample.ready).label("ready"),
                func.max(QueueSample.unacked).label("unacked"),
                func.min(QueueSample.consumers).label("consumers"),
                func.max(QueueSample.oldest_age_seconds).label("oldest_age_seconds"),
                func.avg(QueueSample.publish_rate).label("publish_rate"),
                func.avg(QueueSample.deliver_rate).label("deliver_rate"),
                func.avg(QueueSample.ack_rate).label("ack_rate"),
            )
            .where(QueueSample.queue == queue, QueueSample.slot_at >= since)
            .group_by(bucket)
            .order_by(bucket)
        )
        return list((await self.session.execute(stmt)).all())

    async def purge(self, before: datetime) -> int:
        result = await self.session.execute(delete(QueueSample).where(QueueSample.slot_at < before))
        return result.rowcount or 0


# element-wise sum of the stored and the new runtime histograms (same bucket bounds)
_ADD_BUCKETS = literal_column(
    "ARRAY(SELECT coalesce(a, 0) + coalesce(b, 0) FROM "
    "unnest(queue_task_minutes.runtime_buckets, excluded.runtime_buckets) AS u(a, b))"
)


class TaskMinuteDAO(BaseDAO[QueueTaskMinute]):
    model = QueueTaskMinute

    async def add(self, rows: list[dict[str, Any]]) -> None:
        """Add counts to each (queue, task, minute) row: the events consumer's flush."""
        for values in rows:
            stmt = insert(QueueTaskMinute).values(**values)
            excluded = stmt.excluded
            t = QueueTaskMinute
            stmt = stmt.on_conflict_do_update(
                constraint="uq_queue_task_minutes",
                set_={
                    "sent": t.sent + excluded.sent,
                    "received": t.received + excluded.received,
                    "started": t.started + excluded.started,
                    "succeeded": t.succeeded + excluded.succeeded,
                    "failed": t.failed + excluded.failed,
                    "retried": t.retried + excluded.retried,
                    "runtime_sum": t.runtime_sum + excluded.runtime_sum,
                    "runtime_max": func.greatest(t.runtime_max, excluded.runtime_max),
                    "runtime_buckets": _ADD_BUCKETS,
                },
            )
            await self.session.execute(stmt)

    async def by_task(self, queue: str, since: datetime) -> Sequence[Any]:
        t = QueueTaskMinute
        stmt = (
            select(
                t.task,
                func.sum(t.received).label("received"),
                func.sum(t.succeeded).label("succeeded"),
                func.sum(t.failed).label("failed"),
                func.sum(t.retried).label("retried"),
                func.sum(t.runtime_sum).label("runtime_sum"),
                func.max(t.runtime_max).label("runtime_max"),
            )
            .where(t.queue == queue, t.minute >= since)
            .group_by(t.task)
        )
        return (await self.session.execute(stmt)).all()

    async def buckets(self, queue: str, since: datetime) -> Sequence[Any]:
        t = QueueTaskMinute
        stmt = select(t.task, t.runtime_buckets).where(t.queue == queue, t.minute >= since)
        return (await self.session.execute(stmt)).all()

    async def purge(self, before: datetime) -> int:
        result = await self.session.execute(
            delete(QueueTaskMinute).where(QueueTaskMinute.minute < before)
        )
        return result.rowcount or 0


class QueueWorkerDAO(BaseDAO[QueueWorker]):
    model = QueueWorker

    async def seen(self, values: dict[str, Any], *, came_online: bool) -> None:
        """Record a worker's event; `came_online` restarts its online_since."""
        stmt = insert(QueueWorker).values(**values)
        changes = {
            key: stmt.excluded[key]
            for key in ("queue", "online", "software", "processed", "active", "last_seen_at")
        }
        if came_online:
            changes["online_since"] = stmt.excluded.online_since
        stmt = stmt.on_conflict_do_update(index_elements=[QueueWorker.hostname], set_=changes)
        await self.session.execute(stmt)

    async def mark_silent_offline(self, before: datetime) -> None:
        """Workers without a heartbeat since `before` died without saying so."""
        await self.session.execute(
            update(QueueWorker)
            .where(QueueWorker.online.is_(True), QueueWorker.last_seen_at < before)
            .values(online=False)
        )

    async def for_queue(self, queue: str) -> Sequence[QueueWorker]:
        stmt = (
            select(QueueWorker)
            .where(QueueWorker.queue == queue)
            .order_by(QueueWorker.online.desc(), QueueWorker.last_seen_at.desc())
            .limit(100)
        )
        return (await self.session.execute(stmt)).scalars().all()

    async def online_counts(self) -> dict[str, int]:
        stmt = (
            select(QueueWorker.queue, func.count())
            .where(QueueWorker.online.is_(True))
            .group_by(QueueWorker.queue)
        )
        return {queue: count for queue, count in (await self.session.execute(stmt)).all()}

    async def purge(self, before: datetime) -> int:
        result = await self.session.execute(
            delete(QueueWorker).where(QueueWorker.last_seen_at < before)
        )
        return result.rowcount or 0


class DeployMarkerDAO(BaseDAO[QueueDeployMarker]):
    model = QueueDeployMarker

    async def add(self, values: dict[str, Any]) -> None:
        stmt = insert(QueueDeployMarker).values(**values).on_conflict_do_nothing()
        await self.session.execute(stmt)

    async def for_queue(self, queue: str, since: datetime) -> Sequence[QueueDeployMarker]:
        stmt = (
            select(QueueDeployMarker)
            .where(QueueDeployMarker.queue == queue, QueueDeployMarker.at >= since)
            .order_by(QueueDeployMarker.at)
            .limit(500)
        )
        return (await self.session.execute(stmt)).scalars().all()

    async def purge(self, before: datetime) -> int:
        result = await self.session.execute(
            delete(QueueDeployMarker).where(QueueDeployMarker.at < before)
        )
        return result.rowcount or 0


class QueueThresholdDAO(BaseDAO[QueueThreshold]):
    model = QueueThreshold

    async def all_by_queue(self) -> dict[str, QueueThreshold]:
        rows = (await self.session.execute(select(QueueThreshold))).scalars().all()
        return {row.queue: row for row in rows}

    async def put(self, values: dict[str, Any]) -> QueueThreshold:
        stmt = insert(QueueThreshold).values(**values)
        stmt = stmt.on_conflict_do_update(
            index_elements=[QueueThreshold.queue],
            set_={
                **{key: stmt.excluded[key] for key in values if key != "queue"},
                "updated_at": func.now(),
            },
        ).returning(QueueThreshold)
        row = (await self.session.execute(stmt)).scalars().one()
        await self.session.refresh(row)
        return row


class QueueAlertDAO(BaseDAO[QueueAlert]):
    model = QueueAlert

    async def open_for(self, queue: str) -> dict[str, QueueAlert]:
        stmt = (
            select(QueueAlert)
            .where(QueueAlert.queue == queue, QueueAlert.closed_at.is_(None))
            .with_for_update()
        )
        return {a.kind: a for a in (await self.session.execute(stmt)).scalars().all()}

    async def open_once(self, queue: str, kind: str, details: dict[str, Any]) -> QueueAlert | None:
        """Open an episode; None when one is open already (a concurrent sampler won)."""
        stmt = (
            insert(QueueAlert)
            .values(queue=queue, kind=kind, details=details)
            .on_conflict_do_nothing(
                index_elements=[QueueAlert.queue, QueueAlert.kind],
                index_where=QueueAlert.closed_at.is_(None),
            )
            .returning(QueueAlert.id)
        )
        alert_id = (await self.session.execute(stmt)).scalar()
        return None if alert_id is None else await self.session.get(QueueAlert, alert_id)

    async def recent(self, queue: str, limit: int = 20) -> Sequence[QueueAlert]:
        stmt = (
            select(QueueAlert)
            .where(QueueAlert.queue == queue)
            .order_by(QueueAlert.opened_at.desc())
            .limit(limit)
        )
        return (await self.session.execute(stmt)).scalars().all()

    async def open_all(self) -> Sequence[QueueAlert]:
        stmt = select(QueueAlert).where(QueueAlert.closed_at.is_(None))
        return (await self.session.execute(stmt)).scalars().all()


class QueueNotificationDAO(BaseDAO[Notification]):
    """The notifications the queue alerts owe (monitoring's Notification table)."""

    model = Notification

    async def channels(self, ids: Sequence[uuid.UUID]) -> Sequence[AlertChannel]:
        if not ids:
            return []
        stmt = select(AlertChannel).where(AlertChannel.id.in_(list(ids)))
        return (await self.session.execute(stmt)).scalars().all()

    async def add_once(self, values: dict[str, Any]) -> uuid.UUID | None:
        """Insert one notification; None when its dedupe key exists (owed once already)."""
        stmt = (
            insert(Notification)
            .values(**values)
            .on_conflict_do_nothing(index_elements=[Notification.dedupe_key])
            .returning(Notification.id)
        )
        return (await self.session.execute(stmt)).scalar()

    async def owned_by(self, owner_id: uuid.UUID) -> Sequence[AlertChannel]:
        stmt = (
            select(AlertChannel)
            .where(AlertChannel.owner_id == owner_id)
            .order_by(AlertChannel.created_at)
            .limit(200)
        )
        return (await self.session.execute(stmt)).scalars().all()
