"""Agent conversations: a customer and one of their own deployed ai-agent apps.

Invariants:
- The app is the customer's own and an ai-agent: deploy says so, asked with the customer's
  token, when the conversation is opened (deploy's 404 for anyone else's is our 404).
- A customer's message while the conversation is `bot` creates one `agent_requests` row
  (unique per request message) and its Celery task through the outbox, in the message's
  transaction: a rolled-back send asks nothing, a committed one is never lost.
- One answer per request message: the task starts only a `queued`/`running` request, writes
  into the one reply message the request points at (a redelivered task rewrites it from the
  start) and ends the request `done`, `failed` or `refused`.
- Nothing from the agent lands once a person took over: every write of the answer checks the
  state under the conversation's row lock in the transaction of the write; a late answer is
  recorded as `refused` and its partial message marked failed.
- Every message is fanned out after commit (outbox, exchange chat.fanout, routing key the
  conversation id); the pieces of a streaming answer are fanned out live (`message_delta`),
  and the text is written to its message at least every CHAT_AGENT_STREAM_PERSIST_SECONDS
  and at the end, so a client resuming by seq gets the whole answer.
"""

import json
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from loguru import logger
from sqlalchemy import func
from sqlalchemy.ext.asyncio import AsyncSession

from berth_chat.agents.dao import AgentRequestDAO, ConversationDAO, MessageDAO
from berth_chat.agents.upstream import (
    AGENT_TEMPLATE,
    AgentApp,
    AgentBroken,
    AgentUnreachable,
    DeployUnreachable,
    Upstream,
)
from berth_chat.config import ChatSettings
from berth_chat.enums import (
    AgentRequestStatus,
    ConversationKind,
    ConversationState,
    MessageStatus,
    SenderKind,
)
from berth_chat.models import AgentRequest, Conversation, Message
from berth_chat.names import FANOUT_EXCHANGE, QUEUE, Task
from berth_common.errors import Conflict, NotFound, Unprocessable
from berth_common.messages import OutgoingMessage
from berth_common.outbox import enqueue_task, publish_message

#: what a notice about an agent that cannot answer offers the customer
HELP_ACTIONS = ["switch_to_support", "open_ticket"]
HELP = "talk to support or open a ticket"

InTransaction = Callable[..., Awaitable[Any]]
Live = Callable[[OutgoingMessage], Awaitable[None]]


class HandedOff(Exception):
    """A person took the conversation over while the agent was answering."""


# -- frames (the WebSocket protocol's `message` and `message_delta`) ----------------------------


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


# -- the customer's side ---------------------------------------------------------------------


async def open_conversation(
    session: AsyncSession,
    upstream: Upstream,
    settings: ChatSettings,
    *,
    customer_id: uuid.UUID,
    token: str,
    app_id: uuid.UUID,
) -> Conversation:
    app = await upstream.customers_app(app_id, token)
    if app is None or app.owner_id != customer_id:
        raise NotFound("No agent app of yours with this id")
    if app.template != AGENT_TEMPLATE:
        raise Unprocessable(
            f"{app.name} is not an AI agent app (template {app.template})", code="not_an_agent"
        )
    conversations = ConversationDAO(session)
    if await conversations.open_agent_chats_of(customer_id) >= settings.conversations_per_user:
        raise Conflict(
            f"You have {settings.conversations_per_user} open conversations; close one first",
            code="too_many_conversations",
        )
    return await conversations.create(
        customer_id=customer_id,
        kind=ConversationKind.AGENT,
        agent_app_id=app.id,
        state=ConversationState.BOT,
        subject=app.name[:200],
    )


async def readable_agent_conversation(
    session: AsyncSession, conversation_id: uuid.UUID, user_id: uuid.UUID, *, is_staff: bool
) -> Conversation:
    """The agent conversation, to its customer or staff; NotFound for anyone else."""
    conversation = await ConversationDAO(session).get(conversation_id)
    if (
        conversation is None
        or conversation.kind != ConversationKind.AGENT
        or not (is_staff or conversation.customer_id == user_id)
    ):
        raise NotFound("Conversation not found")
    return conversation


async def request_answer(
    session: AsyncSession, conversation: Conversation, message: Message
) -> AgentRequest | None:
    """After a customer's message in an agent conversation (the caller holds the row lock):
    one request and its task, when the agent is the one answering (state bot)."""
    if conversation.kind != ConversationKind.AGENT or conversation.state != ConversationState.BOT:
        return None
    request = await AgentRequestDAO(session).create(
        conversation_id=conversation.id, request_seq=message.seq
    )
    await enqueue_task(
        session,
        Task.ASK_AGENT,
        queue=QUEUE,
        kwargs={"request_id": str(request.id)},
        task_id=str(request.id),
    )
    return request


async def messages_with_actions(
    session: AsyncSession, conversation_id: uuid.UUID, limit: int
) -> list[dict[str, Any]]:
    messages = MessageDAO(session)
    found = await messages.all_of(conversation_id, limit)
    actions = await messages.actions_of([m.id for m in found])
    return [message_out(m, actions.get(m.id)) for m in found]


# -- the task's side -------------------------------------------------------------------------


@dataclass(frozen=True)
class Job:
    request_id: uuid.UUID
    conversation_id: uuid.UUID
    app_id: uuid.UUID
    question: str
    attempts: int


async def begin(session: AsyncSession, request_id: uuid.UUID) -> Job | None:
    """Count the attempt; None when the request is settled (a redelivery) or a person has the
    conversation now (recorded as refused)."""
    requests = AgentRequestDAO(session)
    request = await requests.locked(request_id)
    if request is None or request.status not in (
        AgentRequestStatus.QUEUED,
        AgentRequestStatus.RUNNING,
    ):
        return None
    conversation = await ConversationDAO(session).get(request.conversation_id)
    if conversation is None or conversation.agent_app_id is None:
        return None
    if conversation.state != ConversationState.BOT:
        await _settle(request, AgentRequestStatus.REFUSED, f"conversation {conversation.state}")
        return None
    question = await MessageDAO(session).at(conversation.id, request.request_seq)
    if question is None:  # purged by retention meanwhile
        await _settle(request, AgentRequestStatus.FAILED, "the question is gone")
        return None
    request.attempts += 1
    request.status = AgentRequestStatus.RUNNING
    await session.flush()
    return Job(
        request.id, conversation.id, conversation.agent_app_id, question.body, request.attempts
    )


async def _settle(request: AgentRequest, status: AgentRequestStatus, error: str | None) -> None:
    request.status = status
    request.error = error[:500] if error else None
    request.finished_at = func.now()


async def _locked_for_agent(
    session: AsyncSession, job: Job
) -> tuple[Conversation, AgentRequest] | None:
    """The conversation (locked) and request when the agent may still write: None and the
    request refused (its partial answer failed) once a person has the conversation."""
    conversation = await ConversationDAO(session).locked(job.conversation_id)
    request = await AgentRequestDAO(session).locked(job.request_id)
    if conversation is None or request is None:
        return None
    if request.status != AgentRequestStatus.RUNNING:
        return None
    if conversation.state != ConversationState.BOT:
        await _settle(request, AgentRequestStatus.REFUSED, f"conversation {conversation.state}")
        if request.reply_message_id is not None:
            partial = await MessageDAO(session).get(request.reply_message_id)
            if partial is not None and partial.status == MessageStatus.STREAMING:
                partial.status = MessageStatus.FAILED
                await session.flush()
                await fan_out(session, partial, update=True)
        logger.info(
            "agent answer {} refused: the conversation is {}", job.request_id, conversation.state
        )
        return None
    return conversation, request


async def start_reply(session: AsyncSession, job: Job) -> Message | None:
    """The reply message (new, or the one an earlier attempt began, emptied); None: refused."""
    found = await _locked_for_agent(session, job)
    if found is None:
        return None
    conversation, request = found
    messages = MessageDAO(session)
    message = None
    if request.reply_message_id is not None:
        message = await messages.get(request.reply_message_id)
    again = message is not None
    if message is None:
        message = await messages.append(
            conversation,
            sender_kind=SenderKind.AGENT,
            sender_id=conversation.agent_app_id,
            body="",
            status=MessageStatus.STREAMING,
        )
        request.reply_message_id = message.id
    else:
        message.body, message.status = "", MessageStatus.STREAMING
    await session.flush()
    await fan_out(session, message, update=again)
    return message


async def save_progress(session: AsyncSession, job: Job, message_id: uuid.UUID, text: str) -> bool:
    if await _locked_for_agent(session, job) is None:
        return False
    message = await MessageDAO(session).get(message_id)
    if message is not None:
        message.body = text
        await session.flush()
    return True


async def finish(session: AsyncSession, job: Job, message_id: uuid.UUID | None, text: str) -> bool:
    """The whole answer, written in the transaction that checks the state; False: refused."""
    found = await _locked_for_agent(session, job)
    if found is None:
        return False
    conversation, request = found
    messages = MessageDAO(session)
    message = await messages.get(message_id) if message_id is not None else None
    body = text if text.strip() else "(the agent sent an empty answer)"
    streamed = message is not None
    if message is None:
        message = await messages.append(
            conversation,
            sender_kind=SenderKind.AGENT,
            sender_id=conversation.agent_app_id,
            body=body,
            status=MessageStatus.COMPLETE,
        )
        request.reply_message_id = message.id
    else:
        message.body, message.status = body, MessageStatus.COMPLETE
    await _settle(request, AgentRequestStatus.DONE, None)
    await session.flush()
    await fan_out(session, message, update=streamed)
    return True


async def give_up(session: AsyncSession, job: Job, notice: str, error: str) -> None:
    """The agent cannot answer: the conversation says so plainly and offers support or a
    ticket; the request ends failed."""
    found = await _locked_for_agent(session, job)
    if found is None:
        return
    conversation, request = found
    messages = MessageDAO(session)
    if request.reply_message_id is not None:
        partial = await messages.get(request.reply_message_id)
        if partial is not None and partial.status == MessageStatus.STREAMING:
            partial.status = MessageStatus.FAILED
            await session.flush()
            await fan_out(session, partial, update=True)
    message = await messages.append(
        conversation,
        sender_kind=SenderKind.SYSTEM,
        sender_id=None,
        body=notice,
        status=MessageStatus.COMPLETE,
    )
    await messages.offer(message, HELP_ACTIONS)
    await _settle(request, AgentRequestStatus.FAILED, error)
    await session.flush()
    await fan_out(session, message, HELP_ACTIONS)


def not_running_notice(app: AgentApp | None) -> str | None:
    """What to tell the customer when deploy says their agent cannot answer; None: it runs."""
    if app is None or app.status in ("deleting", "deleted"):
        return f"Your agent is gone (its app was deleted) — {HELP}."
    name = app.name
    if app.status == "running":
        return None
    if app.status == "suspended":
        if app.suspended_by == "billing":
            return (
                f"Your agent {name} is suspended because your balance is below zero — "
                f"top up, or {HELP}."
            )
        why = f" ({app.status_reason})" if app.status_reason else ""
        return f"Your agent {name} is suspended by the platform{why} — {HELP}."
    if app.status in ("stopped", "stopping"):
        return f"Your agent {name} is stopped — start it from its app page, or {HELP}."
    if app.status == "failed":
        why = f" ({app.status_reason})" if app.status_reason else ""
        return f"Your agent {name} has failed{why} — check its logs and redeploy, or {HELP}."
    return f"Your agent {name} is not running yet ({app.status}) — try again shortly, or {HELP}."


async def answer(
    in_transaction: InTransaction,
    upstream: Upstream,
    settings: ChatSettings,
    request_id: uuid.UUID,
    live: Live,
) -> None:
    """The task's work. Transient failures (deploy or the agent not answering now) are raised
    for Celery to retry with backoff until CHAT_AGENT_MAX_ATTEMPTS; then the conversation is
    told the agent did not answer."""
    job: Job | None = await in_transaction(begin, request_id=request_id)
    if job is None:
        return
    last_try = job.attempts >= settings.agent_max_attempts
    try:
        app = await upstream.app(job.app_id)
    except DeployUnreachable as exc:
        if not last_try:
            raise
        notice = (
            f"Your agent cannot be reached right now (the platform cannot tell its state) — {HELP}."
        )
        await in_transaction(give_up, job=job, notice=notice, error=str(exc))
        return
    notice = not_running_notice(app)
    if notice is not None or app is None:
        state = app.status if app is not None else "deleted"
        await in_transaction(give_up, job=job, notice=notice, error=f"app {state}")
        return

    stream = _Stream(in_transaction, settings, job, live)
    try:
        text = await upstream.ask_agent(app, job.question, str(job.conversation_id), stream.delta)
    except HandedOff:
        return
    except AgentUnreachable as exc:
        if not last_try:
            raise
        notice = (
            f"Your agent {app.name} did not answer ({exc}) after {job.attempts} tries — "
            f"try again later, or {HELP}."
        )
        await in_transaction(give_up, job=job, notice=notice, error=str(exc))
        return
    except AgentBroken as exc:
        notice = f"Your agent {app.name} answered in a way chat cannot read ({exc}) — {HELP}."
        await in_transaction(give_up, job=job, notice=notice, error=str(exc))
        return
    await in_transaction(finish, job=job, message_id=stream.message_id, text=text)


class _Stream:
    """The pieces of one answer: the reply message begun at the first piece, each piece fanned
    out live, the text written to the message at least every persist interval."""

    def __init__(self, in_transaction: InTransaction, settings: ChatSettings, job: Job, live: Live):
        self.in_transaction = in_transaction
        self.settings = settings
        self.job = job
        self.live = live
        self.message: Message | None = None
        self.text = ""
        self.saved_at = time.monotonic()

    @property
    def message_id(self) -> uuid.UUID | None:
        return self.message.id if self.message is not None else None

    async def delta(self, piece: str) -> None:
        if self.message is None:
            self.message = await self.in_transaction(start_reply, job=self.job)
            if self.message is None:
                raise HandedOff()
            self.saved_at = time.monotonic()
        offset = len(self.text)
        self.text += piece
        try:
            await self.live(
                fanout_of(self.job.conversation_id, delta_frame(self.message, offset, piece))
            )
        except Exception as exc:  # live pieces are a courtesy: the message holds the text
            logger.warning("a message_delta was not fanned out: {}", exc)
        if time.monotonic() - self.saved_at >= self.settings.agent_stream_persist_seconds:
            kept = await self.in_transaction(
                save_progress, job=self.job, message_id=self.message.id, text=self.text
            )
            if not kept:
                raise HandedOff()
            self.saved_at = time.monotonic()
