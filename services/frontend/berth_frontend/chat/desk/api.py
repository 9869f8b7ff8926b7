"""Chats at the support desk (/support/chats, support staff and admins): every open
conversation (waiting for a person, mine, others'), and one conversation with the same live
client as the panel's, plus what staff do to it: take it over, release it to the bot, close
it, turn it into a ticket."""

import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import Request
from starlette.responses import Response

from berth_frontend.chat import service
from berth_frontend.chat.api import agent_name, chat_client
from berth_frontend.panel.api import show
from berth_frontend.web import flash
from berth_frontend.web.access import SupportViewer, support_router
from berth_frontend.web.backends import ApiError, Backends, Caller, ServiceDown, section
from berth_frontend.web.screens import SUPPORT, ScreenContext
from berth_frontend.web.session import Viewer

router = support_router()


async def chats(ctx: ScreenContext) -> dict[str, Any]:
    view = ctx.query.get("view")
    if view not in service.DESK_VIEWS:
        view = None
    found = await section(
        service.open_conversations(ctx.backends, ctx.viewer.caller, view, ctx.viewer.user_id)
    )
    return {"conversations": found, "view": view, "views": service.DESK_VIEWS}


async def chat(ctx: ScreenContext) -> dict[str, Any]:
    conversation_id = str(ctx.params["conversation_id"])
    backends, caller = ctx.backends, ctx.viewer.caller
    found = await service.conversation(backends, caller, conversation_id)
    messages = await section(service.latest_messages(backends, caller, conversation_id))
    name = await agent_name(backends, caller, found)
    assignee = str(found.get("assignee_id") or "")
    return {
        "conversation": found,
        "messages": messages,
        "title": f"Chat · {found.get('subject') or found['kind']}",
        "client": chat_client(ctx.viewer, found, "staff", name),
        "mine": assignee == ctx.viewer.user_id,
    }


Action = Callable[[Backends, Caller, str], Awaitable[Any]]


async def _act(
    request: Request, viewer: Viewer, conversation_id: uuid.UUID, action: Action, done: str
) -> Response:
    cid = str(conversation_id)
    try:
        await action(request.app.state.backends, viewer.caller, cid)
    except (ApiError, ServiceDown) as exc:
        if isinstance(exc, ApiError) and exc.status in (401, 404):
            raise
        outcome = flash.from_exception(exc)
    else:
        outcome = flash.success(done)
    return await show(request, viewer, SUPPORT, f"chats/{cid}", full=False, flash=outcome)


@router.post("/support/partials/chats/{conversation_id}/take")
async def take(request: Request, viewer: SupportViewer, conversation_id: uuid.UUID) -> Response:
    return await _act(
        request, viewer, conversation_id, service.take, "You took over this conversation."
    )


@router.post("/support/partials/chats/{conversation_id}/release")
async def release(request: Request, viewer: SupportViewer, conversation_id: uuid.UUID) -> Response:
    return await _act(
        request, viewer, conversation_id, service.release, "Released: the bot answers again."
    )


@router.post("/support/partials/chats/{conversation_id}/close")
async def close(request: Request, viewer: SupportViewer, conversation_id: uuid.UUID) -> Response:
    return await _act(request, viewer, conversation_id, service.close, "Conversation closed.")


@router.post("/support/partials/chats/{conversation_id}/ticket")
async def to_ticket(
    request: Request, viewer: SupportViewer, conversation_id: uuid.UUID
) -> Response:
    return await _act(
        request,
        viewer,
        conversation_id,
        service.to_ticket,
        "Turned into a ticket, with the transcript.",
    )
