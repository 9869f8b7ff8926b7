"""Chat over the chat service's API: a customer's conversations (with support, or with one of
their ai-agent apps listed from deploy), a conversation with its latest page of messages, and
the support desk's side (open conversations, take, release, close, turn into a ticket).

The live part (new messages, typing, read state, streaming answers) is the browser's own
WebSocket to the chat service (static/js/chat.js); the pages give it the paths below."""

from typing import Any

from berth_frontend.web.backends import Backends, Caller

API = "/api/chat/v1"
#: the browser's WebSocket and its history pages, both through Traefik on the panel's origin
WS_PATH = f"{API}/ws"
DEPLOY_API = "/api/deploy/v1"
AGENT_TEMPLATE = "ai-agent"
#: messages rendered with the page; earlier ones are paged in by the browser
FIRST_PAGE = 50
#: the desk's views of the open conversations
DESK_VIEWS = ("waiting", "mine", "others")
#: how many of an agent conversation's messages are looked at for their actions
AGENT_ACTIONS = 1000
#: how many of my conversations the panel lists
MY_LIST = 100
#: how many open conversations the desk lists at most
STAFF_LIST = 200


def conversation_path(conversation_id: str) -> str:
    return f"{API}/conversations/{conversation_id}"


def history_path(conversation_id: str) -> str:
    return f"{conversation_path(conversation_id)}/messages"


async def retention(backends: Backends, caller: Caller) -> dict[str, Any]:
    """How long my messages are kept: {tier, days}."""
    return await backends.chat.get(f"{API}/retention", caller)


def items_of(found: Any) -> list[dict[str, Any]]:
    """A list answer, or a page's items."""
    return found["items"] if isinstance(found, dict) else found


async def conversations(backends: Backends, caller: Caller) -> list[dict[str, Any]]:
    """My conversations, newest activity first."""
    return items_of(await backends.chat.get(f"{API}/conversations", caller, limit=MY_LIST))


async def agent_apps(backends: Backends, caller: Caller) -> dict[str, Any]:
    """The customer's ai-agent apps (deploy lists only the caller's own)."""
    return await backends.deploy.get(
        f"{DEPLOY_API}/apps", caller, template=AGENT_TEMPLATE, size=100
    )


async def agent_app(backends: Backends, caller: Caller, app_id: str) -> dict[str, Any]:
    return await backends.deploy.get(f"{DEPLOY_API}/apps/{app_id}", caller)


async def start_support(backends: Backends, caller: Caller) -> dict[str, Any]:
    return await backends.chat.post(f"{API}/conversations", caller, {})


async def start_agent(backends: Backends, caller: Caller, app_id: str) -> dict[str, Any]:
    return await backends.chat.post(f"{API}/agent-conversations", caller, {"app_id": app_id})


async def conversation(backends: Backends, caller: Caller, conversation_id: str) -> dict[str, Any]:
    return await backends.chat.get(conversation_path(conversation_id), caller)


async def latest_messages(
    backends: Backends, caller: Caller, conversation_id: str
) -> list[dict[str, Any]]:
    """The newest page of messages, oldest first."""
    found = await backends.chat.get(history_path(conversation_id), caller, limit=FIRST_PAGE)
    return sorted(items_of(found), key=lambda m: m["seq"])


async def actions_by_message(
    backends: Backends, caller: Caller, conversation_id: str
) -> dict[str, list[str]]:
    """What the system notices of an agent conversation offer (agent down: talk to support,
    open a ticket), by message id."""
    found = await backends.chat.get(
        f"{API}/agent-conversations/{conversation_id}/messages", caller, limit=AGENT_ACTIONS
    )
    return {str(m["id"]): list(m.get("actions") or []) for m in items_of(found) if m.get("actions")}


# --- the support desk


async def open_conversations(
    backends: Backends, caller: Caller, view: str | None, viewer_id: str
) -> list[dict[str, Any]]:
    """Every open conversation, newest activity first, narrowed to a desk view: `waiting`
    (no person has it), `mine` (assigned to the viewer), `others` (a colleague's)."""
    found = await backends.chat.get(f"{API}/staff/conversations", caller, limit=STAFF_LIST)
    return [c for c in items_of(found) if view is None or desk_view(c, viewer_id) == view]


def desk_view(conversation: dict[str, Any], viewer_id: str) -> str:
    assignee = conversation.get("assignee_id")
    if not assignee:
        return "waiting"
    return "mine" if str(assignee) == viewer_id else "others"


def staff_path(conversation_id: str) -> str:
    return f"{API}/staff/conversations/{conversation_id}"


async def take(backends: Backends, caller: Caller, conversation_id: str) -> dict[str, Any]:
    return await backends.chat.post(f"{staff_path(conversation_id)}/take", caller)


async def release(backends: Backends, caller: Caller, conversation_id: str) -> dict[str, Any]:
    return await backends.chat.post(f"{staff_path(conversation_id)}/release", caller)


async def close(backends: Backends, caller: Caller, conversation_id: str) -> dict[str, Any]:
    return await backends.chat.post(f"{staff_path(conversation_id)}/close", caller)


async def to_ticket(backends: Backends, caller: Caller, conversation_id: str) -> dict[str, Any]:
    """A ticket with the transcript (its customer or staff may ask; again: the same ticket)."""
    return await backends.chat.post(f"{conversation_path(conversation_id)}/ticket", caller)
