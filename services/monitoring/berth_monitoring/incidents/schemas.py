import uuid
from datetime import datetime

from pydantic import BaseModel, ConfigDict

from berth_common.pagination import Page
from berth_monitoring.enums import IncidentStatus


class Incident(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    title: str
    status: IncidentStatus
    cause: str | None
    group_key: str
    opened_at: datetime
    resolved_at: datetime | None


class IncidentPage(Page[Incident]):
    pass


class IncidentMonitor(BaseModel):
    monitor_id: uuid.UUID
    name: str | None
    down_at: datetime
    up_at: datetime | None


class TimelineEvent(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    at: datetime
    kind: str
    monitor_id: uuid.UUID | None
    detail: str | None


class IncidentDetail(Incident):
    monitors: list[IncidentMonitor]
    timeline: list[TimelineEvent]
