"""The queue pages' API shapes."""

import uuid
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from berth_monitoring.queues.enums import QueueAlertKind

Window = Literal["1h", "24h", "7d"]


class QueueThreshold(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    oldest_age_seconds: int | None
    no_consumers_seconds: int | None
    channel_ids: list[uuid.UUID]
    updated_at: datetime | None = None


class QueueThresholdUpdate(BaseModel):
    """Leave a threshold null to stop watching it; channels must be the caller's own (or
    already on the list)."""

    model_config = ConfigDict(extra="forbid")

    oldest_age_seconds: int | None = Field(None, ge=1, le=7 * 86400)
    no_consumers_seconds: int | None = Field(None, ge=0, le=7 * 86400)
    channel_ids: list[uuid.UUID] = Field(default_factory=list, max_length=20)


class QueueNow(BaseModel):
    """A queue's latest sample, its workers online and its open alerts."""

    name: str
    sampled_at: datetime
    ready: int
    unacked: int
    consumers: int
    publish_rate: float | None
    deliver_rate: float | None
    ack_rate: float | None
    oldest_age_seconds: float | None
    no_consumers_since: datetime | None
    workers_online: int
    open_alerts: list[QueueAlertKind]
    threshold: QueueThreshold | None
    flower_path: str


class FactsStatus(BaseModel):
    available: bool
    # why not: the broker is not RabbitMQ, or no sample lately (Prometheus endpoint down)
    reason: str | None
    sample_seconds: int
    last_sampled_at: datetime | None


class QueueList(BaseModel):
    facts: FactsStatus
    queues: list[QueueNow]


class SeriesPoint(BaseModel):
    at: datetime
    ready: int
    unacked: int
    consumers: int
    oldest_age_seconds: float | None
    publish_rate: float | None
    deliver_rate: float | None
    ack_rate: float | None


class TaskStats(BaseModel):
    task: str
    received: int
    succeeded: int
    failed: int
    retried: int
    runtime_avg: float | None
    runtime_max: float | None
    runtime_p95: float | None


class Worker(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    hostname: str
    online: bool
    software: str | None
    processed: int
    active: int
    online_since: datetime | None
    last_seen_at: datetime


class DeployMarker(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    hostname: str
    software: str | None
    at: datetime


class QueueAlert(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    kind: QueueAlertKind
    opened_at: datetime
    closed_at: datetime | None
    details: dict


class MyChannel(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    name: str
    kind: str


class QueueDetail(BaseModel):
    facts: FactsStatus
    window: Window
    queue: QueueNow | None
    series: list[SeriesPoint]
    tasks: list[TaskStats]
    slowest: list[TaskStats]
    workers: list[Worker]
    deploy_markers: list[DeployMarker]
    alerts: list[QueueAlert]
    threshold: QueueThreshold | None
    my_channels: list[MyChannel]
