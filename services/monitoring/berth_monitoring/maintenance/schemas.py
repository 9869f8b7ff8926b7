import uuid
from datetime import datetime

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from berth_common.pagination import Page


class WindowCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(..., min_length=1, max_length=120)
    starts_at: AwareDatetime
    ends_at: AwareDatetime
    monitor_ids: list[uuid.UUID] | None = Field(
        None, max_length=200, description="null: every monitor of yours"
    )


class WindowUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(None, min_length=1, max_length=120)
    starts_at: AwareDatetime | None = None
    ends_at: AwareDatetime | None = None
    monitor_ids: list[uuid.UUID] | None = Field(None, max_length=200)


class Window(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    name: str
    starts_at: datetime
    ends_at: datetime
    monitor_ids: list[uuid.UUID] | None
    created_at: datetime


class WindowPage(Page[Window]):
    pass
