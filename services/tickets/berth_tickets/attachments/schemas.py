"""What the attachments API answers. The customer's shape has no field for notes."""

import uuid
from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field


class Attachment(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    ticket_id: uuid.UUID
    message_id: uuid.UUID | None
    filename: str
    content_type: str = Field(description="sniffed from the content")
    size_bytes: int
    sha256: str
    created_at: datetime


class StaffAttachment(Attachment):
    note_id: uuid.UUID | None = Field(None, description="the internal note it belongs to")
