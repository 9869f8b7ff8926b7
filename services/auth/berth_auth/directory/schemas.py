import uuid
from datetime import datetime

from pydantic import BaseModel, ConfigDict


class DirectoryUser(BaseModel):
    """What another service may know of a user: enough to bill, notify and show a name."""

    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    email: str
    name: str
    roles: list[str]
    is_blocked: bool
    email_verified_at: datetime | None
    created_at: datetime
