import uuid
from datetime import datetime

from pydantic import BaseModel, ConfigDict, computed_field

from berth_common.pagination import Page


class ConsoleToken(BaseModel):
    """A single-use ticket: open `url` (a WebSocket) before `expires_at`, as the same person."""

    token: str
    url: str
    expires_at: datetime


class ConsoleSession(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    vps_id: uuid.UUID
    user_id: uuid.UUID
    client_address: str | None
    opened_at: datetime
    closed_at: datetime | None
    close_code: int | None
    close_reason: str | None
    bytes_in: int
    bytes_out: int

    @computed_field  # type: ignore[prop-decorator]
    @property
    def duration_seconds(self) -> float | None:
        """How long it was open (null while it is)."""
        if self.closed_at is None:
            return None
        return round((self.closed_at - self.opened_at).total_seconds(), 3)


class ConsoleSessionPage(Page[ConsoleSession]):
    pass
