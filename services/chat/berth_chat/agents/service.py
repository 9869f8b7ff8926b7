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

import uuid
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from berth_chat.agents.dao import AgentRequestDAO, ConversationDAO, MessageDAO
from berth_chat.agents.frames import message_out
from berth_chat.agents.upstream import AGENT_TEMPLATE, Upstream
from berth_chat.config import ChatSettings
from berth_chat.enums import ConversationKind, ConversationState
from berth_chat.models import AgentRequest, Conversation, Message
from berth_chat.names import QUEUE, Task
from berth_common.errors import Conflict, NotFound, Unprocessable
from berth_common.outbox import enqueue_task


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
