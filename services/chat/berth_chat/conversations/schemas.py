"""What the chat API and the WebSocket send: conversations and messages (bodies plain text)."""

import uuid
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class ConversationOut(BaseModel):
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


class MessageOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    conversation_id: uuid.UUID
    seq: int
    client_msg_id: str | None
    sender_kind: str
    sender_id: uuid.UUID | None
    body: str = Field(description="plain text: escape it where it is shown")
    status: str
    created_at: datetime


class NewConversation(BaseModel):
    model_config = ConfigDict(extra="forbid")

    subject: str | None = Field(None, max_length=200)


class NewMessage(BaseModel):
    model_config = ConfigDict(extra="forbid")

    client_msg_id: str = Field(min_length=1, max_length=64)
    body: str = Field(min_length=1, max_length=64 * 1024)


class Ack(BaseModel):
    client_msg_id: str
    seq: int
    id: uuid.UUID
    duplicate: bool


def message_frame(message: Any) -> dict:
    """The `message` frame of the WebSocket (and the fan-out's payload): of a Message, or of a
    MessageOut already made (service.post_plain's). Built field by field, the same JSON as
    `MessageOut`'s (a test holds them equal): every send and every replayed message makes one,
    and pydantic's validate and dump took as long as encoding the frame."""
    return {
        "type": "message",
        "conversation_id": str(message.conversation_id),
        "message": {
            "id": str(message.id),
            "conversation_id": str(message.conversation_id),
            "seq": message.seq,
            "client_msg_id": message.client_msg_id,
            "sender_kind": str(message.sender_kind),
            "sender_id": None if message.sender_id is None else str(message.sender_id),
            "body": message.body,
            "status": str(message.status),
            "created_at": json_datetime(message.created_at),
        },
    }


def json_datetime(value: datetime) -> str:
    """A datetime as pydantic writes it in JSON: ISO 8601, UTC as `Z`."""
    text = value.isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text
