"""What the admin endpoint shows of received mail (never its body)."""

import uuid
from datetime import datetime

from pydantic import BaseModel, ConfigDict

from berth_common.pagination import Page
from berth_tickets.enums import InboundOutcome


class InboundEmail(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    received_at: datetime
    outcome: InboundOutcome
    detail: str | None
    from_address: str
    to_address: str
    subject: str
    message_id: str | None
    size_bytes: int
    ticket_id: uuid.UUID | None
    ticket_message_id: uuid.UUID | None


class InboundEmailPage(Page[InboundEmail]):
    # received and stored, not processed yet (a worker is behind, or retrying)
    unprocessed: int = 0
