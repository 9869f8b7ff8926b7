"""The queue pages' tables, in the `monitoring` schema (registered on monitoring's Base).

Seven days of history (QUEUE_HISTORY_DAYS), purged daily by `monitoring.queues.purge`:
- `queue_samples`: one row per queue per sample slot (unique: a re-run sampler writes nothing
  twice), RabbitMQ's facts at that moment plus the counters the sampler adds up;
- `queue_task_minutes`: Celery task events per queue, task and minute (the events consumer
  adds its in-memory counts with an upsert);
- `queue_workers`: the workers seen, online or not; `queue_deploy_markers`: a worker coming
  online (a new release of the service rolling out);
- `queue_thresholds` and `queue_alerts`: on-call thresholds, and their alert episodes (at most
  one open per queue and kind, by a partial unique index).
"""

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    Float,
    Index,
    Integer,
    String,
    UniqueConstraint,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, UUID
from sqlalchemy.orm import Mapped, mapped_column

from berth_common.columns import now_timestamp, touched_timestamp, uuid_pk
from berth_monitoring.models import Base

QUEUE_NAME = 200  # RabbitMQ allows 255 bytes; Berth's names are far shorter


class QueueSample(Base):
    __tablename__ = "queue_samples"
    __table_args__ = (
        UniqueConstraint("queue", "slot_at", name="uq_queue_samples_slot"),
        Index("ix_queue_samples_slot_at", "slot_at"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    queue: Mapped[str] = mapped_column(String(QUEUE_NAME), nullable=False)
    slot_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    ready: Mapped[int] = mapped_column(Integer, nullable=False)
    unacked: Mapped[int] = mapped_column(Integer, nullable=False)
    consumers: Mapped[int] = mapped_column(Integer, nullable=False)
    # cumulative since the queue's first sample, added up per channel (rabbit.advance_counters)
    published_total: Mapped[int] = mapped_column(BigInteger, nullable=False)
    delivered_total: Mapped[int] = mapped_column(BigInteger, nullable=False)
    acked_total: Mapped[int] = mapped_column(BigInteger, nullable=False)
    # messages per second since the previous sample (None for a queue's first sample)
    publish_rate: Mapped[float | None] = mapped_column(Float)
    deliver_rate: Mapped[float | None] = mapped_column(Float)
    ack_rate: Mapped[float | None] = mapped_column(Float)
    oldest_age_seconds: Mapped[float | None] = mapped_column(Float)
    no_consumers_since: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # each channel's cumulative counters at this sample, for the next sample's deltas
    channels: Mapped[dict[str, Any]] = mapped_column(JSONB, nullable=False)


class QueueTaskMinute(Base):
    __tablename__ = "queue_task_minutes"
    __table_args__ = (
        UniqueConstraint("queue", "task", "minute", name="uq_queue_task_minutes"),
        Index("ix_queue_task_minutes_minute", "minute"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    queue: Mapped[str] = mapped_column(String(QUEUE_NAME), nullable=False)
    task: Mapped[str] = mapped_column(String(200), nullable=False)
    minute: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    sent: Mapped[int] = mapped_column(Integer, nullable=False, server_default="0")
    received: Mapped[int] = mapped_column(Integer, nullable=False, server_default="0")
    started: Mapped[int] = mapped_column(Integer, nullable=False, server_default="0")
    succeeded: Mapped[int] = mapped_column(Integer, nullable=False, server_default="0")
    failed: Mapped[int] = mapped_column(Integer, nullable=False, server_default="0")
    retried: Mapped[int] = mapped_column(Integer, nullable=False, server_default="0")
    runtime_sum: Mapped[float] = mapped_column(Float, nullable=False, server_default="0")
    runtime_max: Mapped[float] = mapped_column(Float, nullable=False, server_default="0")
    # runs per runtime bucket (rules.RUNTIME_BUCKETS): the p95 is read from these
    runtime_buckets: Mapped[list[int]] = mapped_column(ARRAY(Integer), nullable=False)


class QueueWorker(Base):
    __tablename__ = "queue_workers"

    hostname: Mapped[str] = mapped_column(String(255), primary_key=True)
    queue: Mapped[str] = mapped_column(String(QUEUE_NAME), nullable=False, index=True)
    online: Mapped[bool] = mapped_column(Boolean, nullable=False)
    software: Mapped[str | None] = mapped_column(String(200))
    processed: Mapped[int] = mapped_column(BigInteger, nullable=False, server_default="0")
    active: Mapped[int] = mapped_column(Integer, nullable=False, server_default="0")
    online_since: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_seen_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)


class QueueDeployMarker(Base):
    __tablename__ = "queue_deploy_markers"
    __table_args__ = (
        UniqueConstraint("hostname", "at", name="uq_queue_deploy_markers"),
        Index("ix_queue_deploy_markers_queue_at", "queue", "at"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    queue: Mapped[str] = mapped_column(String(QUEUE_NAME), nullable=False)
    hostname: Mapped[str] = mapped_column(String(255), nullable=False)
    software: Mapped[str | None] = mapped_column(String(200))
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)


class QueueThreshold(Base):
    __tablename__ = "queue_thresholds"
    __table_args__ = (
        CheckConstraint("oldest_age_seconds IS NULL OR oldest_age_seconds > 0", name="age"),
        CheckConstraint(
            "no_consumers_seconds IS NULL OR no_consumers_seconds >= 0", name="consumers"
        ),
    )

    queue: Mapped[str] = mapped_column(String(QUEUE_NAME), primary_key=True)
    oldest_age_seconds: Mapped[int | None] = mapped_column(Integer)
    no_consumers_seconds: Mapped[int | None] = mapped_column(Integer)
    channel_ids: Mapped[list[uuid.UUID]] = mapped_column(
        ARRAY(UUID(as_uuid=True)), nullable=False, server_default="{}"
    )
    updated_by: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), nullable=False)
    updated_at: Mapped[datetime] = touched_timestamp()


class QueueAlert(Base):
    """An alert episode: opened by a breach, closed by the first sample past it."""

    __tablename__ = "queue_alerts"
    __table_args__ = (
        Index(
            "uq_queue_alerts_open",
            "queue",
            "kind",
            unique=True,
            postgresql_where=text("closed_at IS NULL"),
        ),
        Index("ix_queue_alerts_queue_opened", "queue", "opened_at"),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    queue: Mapped[str] = mapped_column(String(QUEUE_NAME), nullable=False)
    kind: Mapped[str] = mapped_column(String(24), nullable=False)
    opened_at: Mapped[datetime] = now_timestamp()
    closed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # the facts that opened it (age, consumers), shown on the page and sent in the alert
    details: Mapped[dict[str, Any]] = mapped_column(JSONB, nullable=False)
