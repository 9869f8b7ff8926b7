"""What the agent-conversation routes take and give."""

import uuid
from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field


class AgentConversationCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    app_id: uuid.UUID = Field(description="one of your deployed ai-agent apps")


class AgentConversation(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    customer_id: uuid.UUID
    kind: str
    agent_app_id: uuid.UUID | None
    state: str
    assignee_id: uuid.UUID | None
    subject: str | None
    last_seq: int
    ticket_id: uuid.UUID | None
    created_at: datetime
    updated_at: datetime
    closed_at: datetime | None


class ChatMessage(BaseModel):
    id: uuid.UUID
    conversation_id: uuid.UUID
    seq: int
    sender_kind: str
    sender_id: uuid.UUID | None
    body: str = Field(description="plain text: escape it where you render it")
    status: str
    actions: list[str] = Field(
        description="what a system notice offers: switch_to_support, open_ticket"
    )
    created_at: datetime | None


class TicketMade(BaseModel):
    conversation_id: uuid.UUID
    ticket_id: uuid.UUID
    number: str | None = None
