"""A conversation turned into a ticket: the tickets service opens it on the customer's behalf
(chat's machine client, tickets:write) with the transcript as its first message, and the
conversation records the ticket's id. Asking twice returns the same ticket."""

import uuid
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from berth_chat.agents.dao import ConversationDAO, MessageDAO
from berth_chat.agents.frames import fan_out
from berth_chat.agents.upstream import Upstream
from berth_chat.config import ChatSettings
from berth_chat.enums import MessageStatus, SenderKind
from berth_chat.models import Conversation, Message
from berth_common.errors import NotFound

TRANSCRIPT_MESSAGES = 5000


def transcript(conversation: Conversation, messages: list[Message], max_chars: int) -> str:
    """Plain text, oldest first; when too long, the newest part that fits."""
    head = f"Chat transcript of conversation {conversation.id} ({conversation.kind}"
    if conversation.agent_app_id is not None:
        head += f", agent app {conversation.agent_app_id}"
    head += ")\n\n"
    lines = []
    for m in messages:
        at = m.created_at.strftime("%Y-%m-%d %H:%M:%S UTC") if m.created_at else ""
        status = "" if m.status == MessageStatus.COMPLETE else f" ({m.status})"
        lines.append(f"#{m.seq} {at} {m.sender_kind}{status}:\n{m.body}\n")
    kept: list[str] = []
    size = len(head)
    for line in reversed(lines):
        if size + len(line) + 60 > max_chars:
            break
        kept.append(line)
        size += len(line) + 1
    left_out = len(lines) - len(kept)
    note = f"[{left_out} earlier messages are not included]\n\n" if left_out else ""
    text = head + note + "\n".join(reversed(kept))
    return text[:max_chars] if text.strip() else head


def subject_of(conversation: Conversation) -> str:
    if conversation.kind == "agent":
        return f"Chat with my agent {conversation.subject or ''}".strip()[:200]
    return (f"Chat: {conversation.subject}" if conversation.subject else "Chat with support")[:200]


async def to_ticket(
    session: AsyncSession,
    upstream: Upstream,
    settings: ChatSettings,
    *,
    conversation_id: uuid.UUID,
    actor_id: uuid.UUID,
    is_staff: bool,
) -> dict[str, Any]:
    conversations = ConversationDAO(session)
    conversation = await conversations.get(conversation_id)
    if conversation is None or not (is_staff or conversation.customer_id == actor_id):
        raise NotFound("Conversation not found")
    # the row lock is held while tickets answers (its client's timeout bounds it): a second
    # ask (a double click, the customer and staff at once) waits and finds the ticket
    conversation = await conversations.locked(conversation.id)
    assert conversation is not None
    if conversation.ticket_id is not None:
        return {"conversation_id": conversation.id, "ticket_id": conversation.ticket_id}
    messages = await MessageDAO(session).all_of(conversation.id, TRANSCRIPT_MESSAGES)
    body = transcript(conversation, messages, settings.ticket_transcript_max_chars)
    ticket = await upstream.open_ticket(
        {
            "owner_id": str(conversation.customer_id),
            "department": settings.ticket_department,
            "subject": subject_of(conversation),
            "body": body,
        }
    )
    conversation.ticket_id = uuid.UUID(str(ticket["id"]))
    note = await MessageDAO(session).append(
        conversation,
        sender_kind=SenderKind.SYSTEM,
        sender_id=None,
        body=f"This conversation is now ticket {ticket.get('number') or ticket['id']}.",
        status=MessageStatus.COMPLETE,
    )
    await fan_out(session, note)
    return {
        "conversation_id": conversation.id,
        "ticket_id": conversation.ticket_id,
        "number": ticket.get("number"),
    }
