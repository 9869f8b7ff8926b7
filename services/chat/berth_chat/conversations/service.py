"""Conversations: who may join them, numbered messages, the handoff state machine.

Every change to a conversation (a message, a state change) runs under its row lock
(`SELECT ... FOR UPDATE`), so seqs are handed out one by one with no gap inside a committed
transaction, and a state change and a message never race: once `take` committed, an agent's
late answer finds the state `human` and is refused.
"""

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncSession

from berth_chat.agents import service as agents
from berth_chat.conversations.dao import (
    ConversationDAO,
    MessageDAO,
    PlainSend,
    ReadMarkerDAO,
)
from berth_chat.conversations.schemas import MessageOut
from berth_chat.enums import ConversationKind, ConversationState, MessageStatus, SenderKind
from berth_chat.models import Conversation, Message
from berth_common.errors import BerthError, Conflict, NotFound, Unprocessable

STAFF_ROLES = frozenset({"support", "admin"})


class TooLarge(BerthError):
    status_code = 413
    code = "too_large"


@dataclass(frozen=True)
class Actor:
    """Who acts on a conversation: a customer, a staff member, or the platform speaking for a
    customer's agent app (SenderKind.AGENT) or for itself (SYSTEM)."""

    id: uuid.UUID | None
    kind: SenderKind

    @property
    def is_staff(self) -> bool:
        return self.kind == SenderKind.STAFF


def person(user_id: uuid.UUID, roles: frozenset[str]) -> Actor:
    """A signed-in person: staff when they hold support or admin."""
    return Actor(user_id, SenderKind.STAFF if roles & STAFF_ROLES else SenderKind.CUSTOMER)


def may_join(conversation: Conversation, actor: Actor) -> bool:
    """Its customer, staff, and for agent conversations the platform speaking for that agent
    (the caller checked the agent app is the customer's own: `agent_app_id`)."""
    if actor.kind == SenderKind.CUSTOMER:
        return conversation.customer_id == actor.id
    if actor.kind == SenderKind.STAFF:
        return True
    if actor.kind == SenderKind.AGENT:
        return conversation.kind == ConversationKind.AGENT and conversation.agent_app_id == actor.id
    return actor.kind == SenderKind.SYSTEM


async def joinable(session: AsyncSession, conversation_id: uuid.UUID, actor: Actor) -> Conversation:
    """The conversation if `actor` may join it; NotFound otherwise (never says it exists)."""
    conversation = await ConversationDAO(session).get(conversation_id)
    if conversation is None or not may_join(conversation, actor):
        raise NotFound("Conversation not found")
    return conversation


async def _locked(session: AsyncSession, conversation_id: uuid.UUID, actor: Actor) -> Conversation:
    conversation = await ConversationDAO(session).lock(conversation_id)
    if conversation is None or not may_join(conversation, actor):
        raise NotFound("Conversation not found")
    return conversation


async def create_support(
    session: AsyncSession, customer_id: uuid.UUID, subject: str | None, max_open: int
) -> Conversation:
    dao = ConversationDAO(session)
    if await dao.count_open_of(customer_id) >= max_open:
        raise Conflict(f"You have {max_open} open conversations; close one first")
    return await dao.create(
        customer_id=customer_id,
        kind=ConversationKind.SUPPORT,
        state=ConversationState.BOT,
        subject=subject,
    )


async def listing(session: AsyncSession, actor: Actor, limit: int) -> list[Conversation]:
    dao = ConversationDAO(session)
    if actor.kind == SenderKind.CUSTOMER and actor.id is not None:
        return list(await dao.of_customer(actor.id, limit))
    return []


async def staff_listing(session: AsyncSession, limit: int) -> list[Conversation]:
    return list(await ConversationDAO(session).open_ones(limit))


async def history(
    session: AsyncSession,
    conversation_id: uuid.UUID,
    actor: Actor,
    before_seq: int | None,
    limit: int,
) -> list[Message]:
    await joinable(session, conversation_id, actor)
    return await MessageDAO(session).before(conversation_id, before_seq, limit)


async def replay(
    session: AsyncSession, conversation_id: uuid.UUID, actor: Actor, after_seq: int, limit: int
) -> list[Message]:
    """A page of what came after `after_seq` (a resume), oldest first."""
    await joinable(session, conversation_id, actor)
    return await MessageDAO(session).after(conversation_id, after_seq, limit)


def check_body(body: str, max_chars: int) -> str:
    if not isinstance(body, str) or not body.strip():
        raise Unprocessable("A message needs some text")
    if len(body) > max_chars:
        raise TooLarge(f"A message is at most {max_chars} characters")
    # plain text: stored as typed (escaped where rendered); NUL is refused by PostgreSQL text
    if "\x00" in body:
        raise Unprocessable("A message cannot contain NUL characters")
    try:
        body.encode()
    except UnicodeEncodeError:  # a lone surrogate ("\ud800" in JSON): no text PostgreSQL holds
        raise Unprocessable("A message must be valid Unicode text") from None
    return body


async def _append(
    session: AsyncSession,
    conversation: Conversation,
    actor: Actor,
    body: str,
    client_msg_id: str | None,
    status: MessageStatus = MessageStatus.COMPLETE,
) -> Message:
    seq = await ConversationDAO(session).next_seq(conversation.id)
    conversation.last_seq = seq
    return await MessageDAO(session).create(
        conversation_id=conversation.id,
        seq=seq,
        client_msg_id=client_msg_id,
        sender_kind=actor.kind,
        sender_id=actor.id,
        body=body,
        status=status,
    )


SYSTEM = Actor(None, SenderKind.SYSTEM)


@dataclass
class Posted:
    """What a send did: the message (new or the one a retry already made) and every message
    the send created, to fan out (a staff member's first word also announces the handoff)."""

    #: a MessageOut for what `post_plain` kept: the row's values, no ORM instance (building
    #: one per send was a tenth of a busy replica's sending path)
    message: Message | MessageOut
    new: list[Message | MessageOut]

    @property
    def duplicate(self) -> bool:
        return not self.new

    @property
    def to_announce(self) -> list[Message | MessageOut]:
        """What to fan out: the new messages, or for a retry the message it made the first
        time (that send may have committed without its sender hearing, so without being
        published; a subscription that has it already drops it by seq)."""
        return self.new or [self.message]


async def post(
    session: AsyncSession,
    conversation_id: uuid.UUID,
    actor: Actor,
    body: str,
    client_msg_id: str | None,
    max_chars: int,
    *,
    plain_tried: bool = False,
) -> Posted:
    """Persist a message with the conversation's next seq. A retry (same client_msg_id from
    the same sender) returns the message it made the first time. Refused (409) when the
    conversation is closed, and for agents and bots once a human took it over.
    `plain_tried`: the caller ran it through `post_plain` already and it was not one (or its
    batch failed as a whole): straight to the full path."""
    body = check_body(body, max_chars)
    send = None if plain_tried else plain_send(conversation_id, actor, body, client_msg_id)
    if send is not None:
        (fast,) = await post_plain(session, [send])
        if fast is not None:
            return fast
    conversation = await _locked(session, conversation_id, actor)
    messages = MessageDAO(session)
    if client_msg_id is not None:
        earlier = await messages.by_client_msg_id(
            conversation.id, actor.kind, actor.id, client_msg_id
        )
        if earlier is not None:
            return Posted(earlier, [])
    if conversation.state == ConversationState.CLOSED:
        raise Conflict("This conversation is closed")
    if actor.kind == SenderKind.AGENT and conversation.state == ConversationState.HUMAN:
        raise Conflict("A person from support took this conversation over", code="handed_off")
    new = []
    if actor.is_staff and conversation.state == ConversationState.BOT:
        # a staff member answering takes the conversation: the bot stops
        new.append(await _take(session, conversation, actor))
    message = await _append(session, conversation, actor, body, client_msg_id)
    new.append(message)
    if actor.kind == SenderKind.CUSTOMER:
        # an agent conversation in state bot: the agent is asked (a task, in this transaction)
        await agents.request_answer(session, conversation, message)
    return Posted(message, new)


def plain_send(
    conversation_id: uuid.UUID, actor: Actor, body: str, client_msg_id: str | None
) -> PlainSend | None:
    """The send as a candidate for `post_plain` (a person's, with a client_msg_id), else None
    (the full path: agents, the platform)."""
    if client_msg_id is None or actor.id is None:
        return None
    if actor.kind not in (SenderKind.CUSTOMER, SenderKind.STAFF):
        return None
    return PlainSend(conversation_id, client_msg_id, str(actor.kind), actor.id, body)


async def post_plain(session: AsyncSession, sends: list[PlainSend]) -> list[Posted | None]:
    """The common sends in ONE call, however many (group commit): a customer in their own
    open support conversation, or staff in one a person took over. Per send, under the
    conversation's row lock, in arrival order per conversation: who may post, the next seq,
    the message unless it is a retry. Per send its Posted, or None (nothing kept for it) for
    anything else, which `post(plain_tried=True)` handles: a retry, a refusal, a takeover, an
    agent conversation (its agent is asked). Bodies were checked (`check_body`)."""
    rows = await ConversationDAO(session).post_plain(sends)
    return [
        None if row is None else _posted(send, row) for send, row in zip(sends, rows, strict=True)
    ]


def _posted(send: PlainSend, row: tuple) -> Posted:
    seq, message_id, created_at, _updated_at = row
    message = MessageOut(
        id=message_id,
        conversation_id=send.conversation_id,
        seq=seq,
        client_msg_id=send.client_msg_id,
        sender_kind=send.sender_kind,
        sender_id=send.sender_id,
        body=send.body,
        status=str(MessageStatus.COMPLETE),
        created_at=created_at,
    )
    return Posted(message, [message])


async def _take(session: AsyncSession, conversation: Conversation, actor: Actor) -> Message:
    conversation.state = ConversationState.HUMAN
    conversation.assignee_id = actor.id
    return await _append(session, conversation, SYSTEM, "A person from support joined.", None)


async def take(
    session: AsyncSession, conversation_id: uuid.UUID, actor: Actor
) -> tuple[Conversation, list[Message]]:
    """bot → human, assigned to the caller (a staff member); taking one's own is a no-op."""
    conversation = await _locked(session, conversation_id, actor)
    if conversation.state == ConversationState.CLOSED:
        raise Conflict("This conversation is closed")
    if conversation.state == ConversationState.HUMAN:
        if conversation.assignee_id == actor.id:
            return conversation, []
        # another staff member takes it over from a colleague
        conversation.assignee_id = actor.id
        return conversation, []
    return conversation, [await _take(session, conversation, actor)]


async def release(
    session: AsyncSession, conversation_id: uuid.UUID, actor: Actor
) -> tuple[Conversation, list[Message]]:
    """human → bot (the assistant answers again)."""
    conversation = await _locked(session, conversation_id, actor)
    if conversation.state != ConversationState.HUMAN:
        raise Conflict("Only a conversation a person took can be released")
    conversation.state = ConversationState.BOT
    conversation.assignee_id = None
    note = await _append(session, conversation, SYSTEM, "The assistant answers again.", None)
    return conversation, [note]


async def close(
    session: AsyncSession, conversation_id: uuid.UUID, actor: Actor
) -> tuple[Conversation, list[Message]]:
    """Its customer or staff close it; closing twice is a no-op."""
    conversation = await _locked(session, conversation_id, actor)
    if conversation.state == ConversationState.CLOSED:
        return conversation, []
    conversation.state = ConversationState.CLOSED
    conversation.closed_at = datetime.now(UTC)
    note = await _append(session, conversation, SYSTEM, "The conversation was closed.", None)
    return conversation, [note]


async def last_seqs(
    session: AsyncSession, conversation_ids: list[uuid.UUID]
) -> dict[uuid.UUID, int]:
    """The newest seq of each conversation (a replica's sweep of its subscriptions)."""
    return await ConversationDAO(session).last_seqs(conversation_ids)


async def mark_read(
    session: AsyncSession, conversation_id: uuid.UUID, actor: Actor, seq: int
) -> int:
    """Move the actor's read marker to `seq` (at most the conversation's last seq)."""
    conversation = await joinable(session, conversation_id, actor)
    if actor.id is None:
        raise Unprocessable("Only people have read markers")
    return await ReadMarkerDAO(session).advance(
        conversation.id, actor.id, max(0, min(seq, conversation.last_seq))
    )


async def read_markers(
    session: AsyncSession, conversation_id: uuid.UUID, actor: Actor
) -> dict[uuid.UUID, int]:
    await joinable(session, conversation_id, actor)
    return await ReadMarkerDAO(session).of_conversation(conversation_id)
