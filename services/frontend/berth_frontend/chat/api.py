"""Chat in the panel: my conversations (with support and with my agents), starting one, and a
conversation's page (its latest messages rendered here; the browser's chat client then goes
live over the WebSocket, static/js/chat.js)."""

import uuid
from typing import Any

from fastapi import Request
from starlette.responses import RedirectResponse, Response

from berth_frontend.chat import service
from berth_frontend.panel.api import show
from berth_frontend.support.api import optional
from berth_frontend.web import flash
from berth_frontend.web.access import CurrentViewer, panel_router
from berth_frontend.web.backends import ApiError, Backends, Caller, ServiceDown, section
from berth_frontend.web.screens import PANEL, ScreenContext
from berth_frontend.web.session import Viewer
from berth_frontend.web.templating import is_htmx

router = panel_router()


async def chats(ctx: ScreenContext) -> dict[str, Any]:
    found = await section(service.conversations(ctx.backends, ctx.viewer.caller))
    agents = await optional(service.agent_apps(ctx.backends, ctx.viewer.caller))
    names = {str(a["id"]): a["name"] for a in agents.data["items"]} if agents.ok else {}
    retention = await optional(service.retention(ctx.backends, ctx.viewer.caller))
    return {
        "conversations": found,
        "agents": agents,
        "agent_names": names,
        "retention": retention,
    }


async def agent_name(backends: Backends, caller: Caller, conversation: dict[str, Any]) -> str:
    """The agent app's name, for the conversation's heading and its answers."""
    if not conversation.get("agent_app_id"):
        return "Agent"
    app = await optional(service.agent_app(backends, caller, str(conversation["agent_app_id"])))
    return str(app.data["name"]) if app.ok else "Agent"


def chat_client(
    viewer: Viewer, found: dict[str, Any], viewer_kind: str, name: str
) -> dict[str, Any]:
    """What the page's chat client needs: whose view it is and where to connect."""
    conversation_id = str(found["id"])
    return {
        "conversation_id": conversation_id,
        "viewer_id": viewer.user_id,
        "viewer_kind": viewer_kind,
        "agent_name": name,
        "ws_path": service.WS_PATH,
        "history_url": service.history_path(conversation_id),
        "conversation_url": service.conversation_path(conversation_id),
        "first_page": service.FIRST_PAGE,
    }


async def conversation(ctx: ScreenContext) -> dict[str, Any]:
    conversation_id = str(ctx.params["conversation_id"])
    backends, caller = ctx.backends, ctx.viewer.caller
    found = await service.conversation(backends, caller, conversation_id)  # 404: not theirs
    messages = await section(service.latest_messages(backends, caller, conversation_id))
    name = await agent_name(backends, caller, found)
    actions: dict[str, list[str]] = {}
    if found["kind"] == "agent":
        offered = await optional(service.actions_by_message(backends, caller, conversation_id))
        actions = offered.data if offered.ok else {}
    title = f"Chat with {name}" if found["kind"] == "agent" else "Chat with support"
    return {
        "conversation": found,
        "messages": messages,
        "actions": actions,
        "title": title,
        "client": chat_client(ctx.viewer, found, "customer", name),
    }


def _chat_screen(conversation_id: Any) -> str:
    return f"chat/{conversation_id}"


async def _started(request: Request, viewer: Viewer, call: Any) -> Response:
    """A new conversation's page (htmx: the screen, pushed to the address bar; a plain POST
    from the chat client's "talk to support": a redirect to it); a refusal: the list again."""
    try:
        created = await call
    except (ApiError, ServiceDown) as exc:
        if isinstance(exc, ApiError) and exc.status == 401:
            raise
        return await show(
            request, viewer, PANEL, "chat", full=False, flash=flash.from_exception(exc)
        )
    path = _chat_screen(created["id"])
    if not is_htmx(request):
        return RedirectResponse(f"{PANEL.page_prefix}/{path}", status_code=303)
    return await show(request, viewer, PANEL, path, full=False, push=True)


@router.post("/partials/chat/{conversation_id}/ticket")
async def to_ticket(
    request: Request, viewer: CurrentViewer, conversation_id: uuid.UUID
) -> Response:
    """The conversation as a ticket with its transcript: the ticket's page (or a redirect to
    it, for the chat client's "open a ticket")."""
    try:
        made = await service.to_ticket(
            request.app.state.backends, viewer.caller, str(conversation_id)
        )
    except (ApiError, ServiceDown) as exc:
        if isinstance(exc, ApiError) and exc.status in (401, 404):
            raise
        outcome = flash.from_exception(exc)
        return await show(
            request, viewer, PANEL, _chat_screen(conversation_id), full=False, flash=outcome
        )
    path = f"support/{made['ticket_id']}"
    if not is_htmx(request):
        return RedirectResponse(f"{PANEL.page_prefix}/{path}", status_code=303)
    done = flash.success("Your conversation is now a ticket, with its transcript.")
    return await show(request, viewer, PANEL, path, full=False, flash=done, push=True)


@router.post("/partials/chat/support")
async def start_support(request: Request, viewer: CurrentViewer) -> Response:
    call = service.start_support(request.app.state.backends, viewer.caller)
    return await _started(request, viewer, call)


@router.post("/partials/chat/agents/{app_id}")
async def start_agent(request: Request, viewer: CurrentViewer, app_id: uuid.UUID) -> Response:
    call = service.start_agent(request.app.state.backends, viewer.caller, str(app_id))
    return await _started(request, viewer, call)
