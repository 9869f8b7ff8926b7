"""REST of chat: /api/chat/v1/conversations (customers) and /api/chat/v1/staff (support)."""

import uuid
from typing import Annotated

from fastapi import Query, Request

from berth_chat.conversations import schemas, service
from berth_chat.conversations.schemas import message_frame
from berth_chat.live.hub import Hub
from berth_common.db import SessionDep
from berth_common.errors import Conflict, NotFound, RateLimited, error_responses
from berth_common.routing import role_router, user_router
from berth_common.security import CurrentUser, SupportUser, user_id_of

API = "/api/chat/v1"
router = user_router(prefix=f"{API}/conversations", tags=["chat"], errors=(NotFound, Conflict))
staff_router = role_router(
    "support", "admin", prefix=f"{API}/staff", tags=["chat staff"], errors=(NotFound, Conflict)
)

Limit = Annotated[int, Query(ge=1, le=200)]


def _hub(request: Request) -> Hub:
    return request.app.state.hub


async def _fan_out(request: Request, messages: list) -> None:
    hub = _hub(request)
    for message in messages:
        await hub.publish(message_frame(message))


@router.get("", response_model=list[schemas.ConversationOut])
async def my_conversations(session: SessionDep, user: CurrentUser, limit: Limit = 50):
    actor = service.person(user_id_of(user), frozenset())
    return await service.listing(session, actor, limit)


@router.post("", response_model=schemas.ConversationOut, status_code=201)
async def start_support(
    body: schemas.NewConversation, session: SessionDep, user: CurrentUser, request: Request
):
    settings = request.app.state.settings
    return await service.create_support(
        session, user_id_of(user), body.subject, settings.conversations_per_user
    )


@router.get("/{conversation_id}", response_model=schemas.ConversationOut)
async def one(conversation_id: uuid.UUID, session: SessionDep, user: CurrentUser):
    return await service.joinable(
        session, conversation_id, service.person(user_id_of(user), user.roles)
    )


@router.get("/{conversation_id}/messages", response_model=list[schemas.MessageOut])
async def messages(
    conversation_id: uuid.UUID,
    session: SessionDep,
    user: CurrentUser,
    before_seq: Annotated[int | None, Query(ge=1)] = None,
    limit: Limit = 50,
):
    """A page of history, oldest first: the newest `limit`, or those before `before_seq`."""
    actor = service.person(user_id_of(user), user.roles)
    return await service.history(session, conversation_id, actor, before_seq, limit)


@router.post(
    "/{conversation_id}/messages",
    response_model=schemas.Ack,
    responses=error_responses(RateLimited),
)
async def send(
    conversation_id: uuid.UUID,
    body: schemas.NewMessage,
    session: SessionDep,
    user: CurrentUser,
    request: Request,
):
    """The same as the socket's `send` (for clients without a socket); idempotent by
    client_msg_id."""
    actor = service.person(user_id_of(user), user.roles)
    app = request.app
    if not await app.state.limiter.allow(str(actor.id)):
        raise RateLimited(f"At most {app.state.limiter.item} messages", retry_after=10)
    posted = await service.post(
        session,
        conversation_id,
        actor,
        body.body,
        body.client_msg_id,
        app.state.settings.message_max_chars,
    )
    ack = schemas.Ack(
        client_msg_id=body.client_msg_id,
        seq=posted.message.seq,
        id=posted.message.id,
        duplicate=posted.duplicate,
    )
    new = list(posted.to_announce)
    await session.commit()  # edge: persisted before the answer and the fan-out
    await _fan_out(request, new)
    return ack


@router.post("/{conversation_id}/close", response_model=schemas.ConversationOut)
async def close(
    conversation_id: uuid.UUID, session: SessionDep, user: CurrentUser, request: Request
):
    actor = service.person(user_id_of(user), user.roles)
    conversation, new = await service.close(session, conversation_id, actor)
    out = schemas.ConversationOut.model_validate(conversation)
    await session.commit()  # edge: the state is kept before it is announced
    await _fan_out(request, new)
    return out


@staff_router.get("/conversations", response_model=list[schemas.ConversationOut])
async def open_conversations(session: SessionDep, staff: SupportUser, limit: Limit = 100):
    """Every open support conversation, most recently active first."""
    return await service.staff_listing(session, limit)


async def _transition(request: Request, session, staff, conversation_id: uuid.UUID, fn):
    actor = service.person(user_id_of(staff), staff.roles)
    conversation, new = await fn(session, conversation_id, actor)
    out = schemas.ConversationOut.model_validate(conversation)
    await session.commit()  # edge: the state is kept before it is announced
    await _fan_out(request, new)
    return out


@staff_router.post("/conversations/{conversation_id}/take", response_model=schemas.ConversationOut)
async def take(
    conversation_id: uuid.UUID, session: SessionDep, staff: SupportUser, request: Request
):
    """bot → human, assigned to me: from now on the bot's answers are refused."""
    return await _transition(request, session, staff, conversation_id, service.take)


@staff_router.post(
    "/conversations/{conversation_id}/release", response_model=schemas.ConversationOut
)
async def release(
    conversation_id: uuid.UUID, session: SessionDep, staff: SupportUser, request: Request
):
    """human → bot."""
    return await _transition(request, session, staff, conversation_id, service.release)


@staff_router.post("/conversations/{conversation_id}/close", response_model=schemas.ConversationOut)
async def staff_close(
    conversation_id: uuid.UUID, session: SessionDep, staff: SupportUser, request: Request
):
    return await _transition(request, session, staff, conversation_id, service.close)
