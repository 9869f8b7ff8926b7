"""Agent conversations over REST: open one with your own ai-agent app (then talk in it as in
any conversation: the WebSocket's `send` or POST .../conversations/{id}/messages), read its
messages with what each notice offers, and turn a conversation (any kind) into a ticket."""

import uuid
from typing import Annotated

from fastapi import Depends, Query, Request

from berth_chat.agents import service
from berth_chat.agents.schemas import (
    AgentConversation,
    AgentConversationCreate,
    ChatMessage,
    TicketMade,
)
from berth_chat.agents.tickets import to_ticket
from berth_chat.agents.upstream import Upstream
from berth_chat.config import ChatSettings
from berth_common.db import SessionDep
from berth_common.errors import (
    Conflict,
    NotFound,
    ServiceUnavailable,
    Unauthorized,
    Unprocessable,
    error_responses,
)
from berth_common.routing import user_router
from berth_common.security import CurrentUser, CurrentUserId, token_from_request

API = "/api/chat/v1"
STAFF_ROLES = frozenset({"support", "admin"})

router = user_router(prefix=API, tags=["agent conversations"], errors=(NotFound,))


def _settings(request: Request) -> ChatSettings:
    return request.app.state.settings


def _upstream(request: Request) -> Upstream:
    return request.app.state.agents_upstream


def _token(request: Request) -> str:
    """The caller's own token: deploy then shows only the caller's apps."""
    token = token_from_request(request)
    if not token:
        raise Unauthorized("Sign in first")
    return token


SettingsDep = Annotated[ChatSettings, Depends(_settings)]
UpstreamDep = Annotated[Upstream, Depends(_upstream)]
CallerToken = Annotated[str, Depends(_token)]


@router.post(
    "/agent-conversations",
    status_code=201,
    response_model=AgentConversation,
    responses=error_responses(Unprocessable, Conflict, ServiceUnavailable),
    description="A conversation with one of your deployed ai-agent apps (404: not yours).",
)
async def open_agent_conversation(
    data: AgentConversationCreate,
    customer_id: CurrentUserId,
    token: CallerToken,
    session: SessionDep,
    settings: SettingsDep,
    upstream: UpstreamDep,
) -> AgentConversation:
    conversation = await service.open_conversation(
        session, upstream, settings, customer_id=customer_id, token=token, app_id=data.app_id
    )
    return AgentConversation.model_validate(conversation)


@router.get(
    "/agent-conversations/{conversation_id}/messages",
    response_model=list[ChatMessage],
    description=(
        "The conversation's messages by seq, with what each system notice offers (its "
        "customer, or staff)."
    ),
)
async def agent_messages(
    conversation_id: uuid.UUID,
    principal: CurrentUser,
    user_id: CurrentUserId,
    session: SessionDep,
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
) -> list[ChatMessage]:
    await service.readable_agent_conversation(
        session, conversation_id, user_id, is_staff=bool(STAFF_ROLES & set(principal.roles))
    )
    found = await service.messages_with_actions(session, conversation_id, limit)
    return [ChatMessage.model_validate(m) for m in found]


@router.post(
    "/conversations/{conversation_id}/ticket",
    response_model=TicketMade,
    responses=error_responses(Unprocessable, ServiceUnavailable),
    description=(
        "Turn the conversation into a ticket with its transcript (its customer, or staff); "
        "asking again returns the same ticket."
    ),
)
async def conversation_to_ticket(
    conversation_id: uuid.UUID,
    principal: CurrentUser,
    user_id: CurrentUserId,
    session: SessionDep,
    settings: SettingsDep,
    upstream: UpstreamDep,
) -> TicketMade:
    made = await to_ticket(
        session,
        upstream,
        settings,
        conversation_id=conversation_id,
        actor_id=user_id,
        is_staff=bool(STAFF_ROLES & set(principal.roles)),
    )
    return TicketMade.model_validate(made)
