"""The WebSocket protocol's frames for agent conversations (`message`, `message_update`,
`message_delta`), and their fan-out to every replica after commit (outbox, exchange
chat.fanout, routing key the conversation id)."""

import json
import uuid
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from berth_chat.models import Message
from berth_chat.names import FANOUT_EXCHANGE
from berth_common.messages import OutgoingMessage
from berth_common.outbox import publish_message


def message_out(message: Message, actions: list[str] | None = None) -> dict[str, Any]:
    return {
        "id": str(message.id),
        "conversation_id": str(message.conversation_id),
        "seq": message.seq,
        "client_msg_id": message.client_msg_id,
        "sender_kind": message.sender_kind,
        "sender_id": str(message.sender_id) if message.sender_id else None,
        "body": message.body,
        "status": message.status,
        "actions": actions or [],
        "created_at": message.created_at.isoformat() if message.created_at else None,
    }


def fanout_of(conversation_id: uuid.UUID, frame: dict[str, Any]) -> OutgoingMessage:
    """A frame for every replica with a socket on the conversation (none may be bound: not
    mandatory; a client that missed it resumes by seq)."""
    return OutgoingMessage(
        id=str(uuid.uuid4()),
        exchange=FANOUT_EXCHANGE,
        routing_key=str(conversation_id),
        headers={},
        body=json.dumps(frame),
        mandatory=False,
    )


async def fan_out(
    session: AsyncSession, message: Message, actions: list[str] | None = None, *, update=False
):
    """`message` for a new one; `message_update` for a change of one already sent (an agent's
    answer: streaming → complete or failed), which subscribers pass on whatever its seq."""
    frame = {
        "type": "message_update" if update else "message",
        "conversation_id": str(message.conversation_id),
        "message": message_out(message, actions),
    }
    await publish_message(session, fanout_of(message.conversation_id, frame))


def delta_frame(message: Message, offset: int, delta: str) -> dict[str, Any]:
    """A piece of a streaming answer: `delta` belongs at character `offset` of the message's
    body (offset 0 again: a retried answer starts over)."""
    return {
        "type": "message_delta",
        "conversation_id": str(message.conversation_id),
        "message_id": str(message.id),
        "seq": message.seq,
        "offset": offset,
        "delta": delta,
    }
