"""The agent's side of a conversation: the Celery task's work on one request (see
agents/service.py for the invariants it keeps)."""

import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from loguru import logger
from sqlalchemy import func
from sqlalchemy.ext.asyncio import AsyncSession

from berth_chat.agents.dao import AgentRequestDAO, ConversationDAO, MessageDAO
from berth_chat.agents.frames import delta_frame, fan_out, fanout_of
from berth_chat.agents.upstream import (
    AgentApp,
    AgentBroken,
    AgentUnreachable,
    DeployUnreachable,
    Upstream,
)
from berth_chat.config import ChatSettings
from berth_chat.enums import AgentRequestStatus, ConversationState, MessageStatus, SenderKind
from berth_chat.models import AgentRequest, Conversation, Message
from berth_common.messages import OutgoingMessage

#: what a notice about an agent that cannot answer offers the customer
HELP_ACTIONS = ["switch_to_support", "open_ticket"]
HELP = "talk to support or open a ticket"

InTransaction = Callable[..., Awaitable[Any]]
Live = Callable[[OutgoingMessage], Awaitable[None]]


class HandedOff(Exception):
    """A person took the conversation over while the agent was answering."""


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
