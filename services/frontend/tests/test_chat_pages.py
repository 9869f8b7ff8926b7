"""Chat pages over a stand-in chat API: my conversations and agents, a conversation rendered
as text for the live client (no stored XSS), another customer's conversation not found, the
desk's chat screens closed to customers, and staff actions sent to the chat service."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
from frontend_testkit import StandIn

from berth_frontend.main import create_app
from berth_testing.oauth import mint_access_token
from berth_testing.plugin import app_client, trust_keys

CID = "c0ffee00-1b2a-4c5d-8e9f-0a1b2c3d4e5f"
AGENT_CID = "c0ffee01-1b2a-4c5d-8e9f-0a1b2c3d4e5f"
APP_ID = "a9e00000-2222-4333-8444-555555555555"
OWNER = "3f0c6a52-8d1e-4b8e-9a55-2b0f6c1d7e90"
OTHER_CID = "c0ffee02-1b2a-4c5d-8e9f-0a1b2c3d4e5f"
STAFF = "5eaf0000-8d1e-4b8e-9a55-2b0f6c1d7e90"
API = "/api/chat/v1"
XSS = "<img src=x onerror=alert(1)><script>alert('x')</script>"

CONVERSATION = {
    "id": CID,
    "customer_id": OWNER,
    "kind": "support",
    "agent_app_id": None,
    "state": "human",
    "assignee_id": STAFF,
    "subject": None,
    "last_seq": 2,
    "ticket_id": None,
    "created_at": "2026-11-30T09:00:00Z",
    "updated_at": "2026-11-30T09:05:00Z",
    "closed_at": None,
}
AGENT_CONVERSATION = {
    **CONVERSATION,
    "id": AGENT_CID,
    "kind": "agent",
    "agent_app_id": APP_ID,
    "state": "bot",
    "assignee_id": None,
}
MESSAGES = [
    {
        "id": "11111111-2222-4333-8444-555555555551",
        "conversation_id": CID,
        "seq": 1,
        "client_msg_id": "m1",
        "sender_kind": "customer",
        "sender_id": OWNER,
        "body": f"hello {XSS}",
        "status": "complete",
        "created_at": "2026-11-30T09:00:00Z",
    },
    {
        "id": "11111111-2222-4333-8444-555555555552",
        "conversation_id": CID,
        "seq": 2,
        "client_msg_id": "m2",
        "sender_kind": "staff",
        "sender_id": STAFF,
        "body": "How can we help?",
        "status": "complete",
        "created_at": "2026-11-30T09:01:00Z",
    },
]
TICKET_ID = "7d1f0c3e-1b2a-4c5d-8e9f-0a1b2c3d4e5f"
AGENT_DOWN = {
    **MESSAGES[0],
    "id": "11111111-2222-4333-8444-555555555559",
    "conversation_id": AGENT_CID,
    "sender_kind": "system",
    "sender_id": None,
    "body": "Your agent Helper bot is suspended: talk to support or open a ticket.",
    "actions": ["switch_to_support", "open_ticket"],
}
PAGE = {"items": [CONVERSATION, AGENT_CONVERSATION], "total": 2, "page": 1, "size": 20, "pages": 1}
AGENT_APP = {"id": APP_ID, "slug": "helper", "name": "Helper bot", "status": "running"}
ANSWERS: dict[str, Any] = {
    "/api/auth/v1/me": (200, {"name": "Ada", "email": "ada@example.test"}),
    f"{API}/conversations": (200, PAGE),
    f"{API}/retention": (200, {"tier": "pro", "days": 365}),
    f"{API}/conversations/{CID}": (200, CONVERSATION),
    f"{API}/conversations/{CID}/messages": (200, {"items": MESSAGES}),
    f"{API}/conversations/{AGENT_CID}": (200, AGENT_CONVERSATION),
    f"{API}/conversations/{AGENT_CID}/messages": (
        200,
        [{k: v for k, v in AGENT_DOWN.items() if k != "actions"}],
    ),
    "/api/deploy/v1/apps": (200, {"items": [AGENT_APP], "total": 1}),
    f"/api/deploy/v1/apps/{APP_ID}": (200, AGENT_APP),
    f"{API}/staff/conversations": (
        200,
        [CONVERSATION, {**CONVERSATION, "id": OTHER_CID, "assignee_id": None, "state": "bot"}],
    ),
    f"{API}/agent-conversations/{AGENT_CID}/messages": (200, [AGENT_DOWN]),
    f"POST {API}/conversations": (201, CONVERSATION),
    f"POST {API}/agent-conversations": (201, AGENT_CONVERSATION),
    f"POST {API}/staff/conversations/{CID}/take": (200, CONVERSATION),
    f"POST {API}/conversations/{CID}/ticket": (
        200,
        {"conversation_id": CID, "ticket_id": TICKET_ID, "number": "T-000007"},
    ),
}


@asynccontextmanager
async def frontend_over(
    stand_in: StandIn, settings: Any, public_jwks: dict
) -> AsyncIterator[httpx.AsyncClient]:
    url = stand_in.url
    app = create_app(
        settings.model_copy(
            update={"auth_url": url, "deploy_url": url, "chat_url": url, "tickets_url": url}
        )
    )
    trust_keys(app, public_jwks)
    async with app_client(app, base_url="http://localhost:8080") as client:
        yield client


def sign_in(client: httpx.AsyncClient, signing_jwks: dict, roles: list[str], subject=OWNER):
    token = mint_access_token(
        signing_jwks, issuer="http://localhost:8080", subject=subject, roles=roles, lifetime=600
    )
    client.cookies.set("berth_access", token)


def csrf_of(html: str) -> str:
    return html.split('"X-CSRF-Token": "')[1][:64]


async def test_my_conversations_and_agents_are_listed(frontend_settings, public_jwks, signing_jwks):
    with StandIn(dict(ANSWERS)) as stand_in:
        async with frontend_over(stand_in, frontend_settings, public_jwks) as client:
            sign_in(client, signing_jwks, ["user"])
            page = await client.get("/panel/chat")
    assert page.status_code == 200, page.text[:300]
    assert (
        f'href="/panel/chat/{CID}"' in page.text and f'href="/panel/chat/{AGENT_CID}"' in page.text
    )
    assert "Agent Helper bot" in page.text  # the agent conversation named after its app
    assert "Messages are kept 365 days on your pro tier, then deleted." in page.text
    assert f'hx-post="/partials/chat/agents/{APP_ID}"' in page.text
    assert 'hx-post="/partials/chat/support"' in page.text
    assert "/api/deploy/v1/apps?template=ai-agent&size=100" in stand_in.asked
    assert not [a for a in stand_in.asked if "/staff/" in a]


async def test_a_conversation_renders_its_messages_as_text_for_the_live_client(
    frontend_settings, public_jwks, signing_jwks
):
    with StandIn(dict(ANSWERS)) as stand_in:
        async with frontend_over(stand_in, frontend_settings, public_jwks) as client:
            sign_in(client, signing_jwks, ["user"])
            page = await client.get(f"/panel/chat/{CID}")
            agent = await client.get(f"/panel/chat/{AGENT_CID}")
    assert page.status_code == 200, page.text[:300]
    html = page.text
    assert "<script>alert" not in html and "<img src=x" not in html
    assert "&lt;img src=x onerror=alert(1)&gt;" in html
    assert 'data-seq="1"' in html and 'data-seq="2"' in html
    assert html.index('data-seq="1"') < html.index('data-seq="2"')
    assert f'data-conversation-id="{CID}"' in html and 'data-viewer-kind="customer"' in html
    assert 'data-ws-path="/api/chat/v1/ws"' in html
    assert f'data-history-url="/api/chat/v1/conversations/{CID}/messages"' in html
    assert f'data-conversation-url="/api/chat/v1/conversations/{CID}"' in html
    assert "data-chat-badge>with a person</span>" in html
    assert "/static/js/chat.js?v=" in html
    assert f"{API}/conversations/{CID}/messages?limit=50" in stand_in.asked
    assert agent.status_code == 200 and "Chat with Helper bot" in agent.text
    assert 'data-agent-name="Helper bot"' in agent.text
    # the agent-down notice offers its actions; the chat client posts them to these
    notice = agent.text[agent.text.index("is suspended") :]
    assert 'data-chat-action="switch_to_support"' in notice
    assert 'data-chat-action="open_ticket"' in notice
    assert 'data-start-support-url="/partials/chat/support"' in agent.text
    assert f'data-ticket-url="/partials/chat/{AGENT_CID}/ticket"' in agent.text


async def test_another_customers_conversation_is_not_found(
    frontend_settings, public_jwks, signing_jwks
):
    answers = {
        **ANSWERS,
        f"{API}/conversations/{CID}": (
            404,
            {"error": {"code": "not_found", "message": "No such conversation"}},
        ),
    }
    with StandIn(answers) as stand_in:
        async with frontend_over(stand_in, frontend_settings, public_jwks) as client:
            sign_in(client, signing_jwks, ["user"], subject=STAFF)
            page = await client.get(f"/panel/chat/{CID}")
            partial = await client.get(f"/partials/chat/{CID}", headers={"HX-Request": "true"})
    assert page.status_code == 404 and partial.status_code == 404
    assert "How can we help?" not in page.text and "data-chat" not in page.text
    assert not [a for a in stand_in.asked if a.endswith("/messages")]


async def test_starting_a_support_chat_lands_on_it(frontend_settings, public_jwks, signing_jwks):
    with StandIn(dict(ANSWERS)) as stand_in:
        async with frontend_over(stand_in, frontend_settings, public_jwks) as client:
            sign_in(client, signing_jwks, ["user"])
            token = csrf_of((await client.get("/panel/chat")).text)
            started = await client.post(
                "/partials/chat/support", headers={"HX-Request": "true", "X-CSRF-Token": token}
            )
            plain = await client.post(
                "/partials/chat/support", data={"csrf_token": token}, follow_redirects=False
            )
            agent = await client.post(
                f"/partials/chat/agents/{APP_ID}",
                headers={"HX-Request": "true", "X-CSRF-Token": token},
            )
            forged = await client.post("/partials/chat/support")
    assert started.status_code == 200 and started.headers["HX-Push-Url"] == f"/panel/chat/{CID}"
    assert "data-chat" in started.text
    assert plain.status_code == 303 and plain.headers["location"] == f"/panel/chat/{CID}"
    assert agent.status_code == 200
    assert forged.status_code == 403
    assert [a for a in stand_in.asked if a.startswith("POST")] == [
        f"POST {API}/conversations",
        f"POST {API}/conversations",
        f"POST {API}/agent-conversations",
    ]
    assert stand_in.bodies[:3] == [{}, {}, {"app_id": APP_ID}]


async def test_a_customer_turns_a_conversation_into_a_ticket(
    frontend_settings, public_jwks, signing_jwks
):
    with StandIn(dict(ANSWERS)) as stand_in:
        async with frontend_over(stand_in, frontend_settings, public_jwks) as client:
            sign_in(client, signing_jwks, ["user"])
            token = csrf_of((await client.get(f"/panel/chat/{CID}")).text)
            plain = await client.post(
                f"/partials/chat/{CID}/ticket", data={"csrf_token": token}, follow_redirects=False
            )
    assert plain.status_code == 303 and plain.headers["location"] == f"/panel/support/{TICKET_ID}"
    assert f"POST {API}/conversations/{CID}/ticket" in stand_in.asked


async def test_the_desk_chats_are_for_staff_and_actions_reach_the_chat_service(
    frontend_settings, public_jwks, signing_jwks
):
    with StandIn(dict(ANSWERS)) as stand_in:
        async with frontend_over(stand_in, frontend_settings, public_jwks) as client:
            sign_in(client, signing_jwks, ["user"])
            refused = [
                await client.get(p)
                for p in ("/support/chats", f"/support/chats/{CID}", "/support/partials/chats")
            ]
            token = csrf_of((await client.get("/panel/chat")).text)
            refused_take = await client.post(
                f"/support/partials/chats/{CID}/take",
                headers={"HX-Request": "true", "X-CSRF-Token": token},
            )
            asked_by_customer = list(stand_in.asked)
            sign_in(client, signing_jwks, ["user", "support"], subject=STAFF)
            waiting = await client.get("/support/chats?view=waiting")
            listing = await client.get("/support/chats?view=mine")
            chat = await client.get(f"/support/chats/{CID}")
            token = csrf_of(chat.text)
            headers = {"HX-Request": "true", "X-CSRF-Token": token}
            took = await client.post(f"/support/partials/chats/{CID}/take", headers=headers)
            ticket = await client.post(f"/support/partials/chats/{CID}/ticket", headers=headers)
    assert [r.status_code for r in refused] == [403, 403, 403]
    assert refused_take.status_code == 403
    assert not [a for a in asked_by_customer if "/staff/" in a or a.startswith("POST")]
    assert listing.status_code == 200 and f'href="/support/chats/{CID}"' in listing.text
    assert f'href="/support/chats/{OTHER_CID}"' not in listing.text
    assert f'href="/support/chats/{OTHER_CID}"' in waiting.text
    assert f'href="/support/chats/{CID}"' not in waiting.text
    assert f"{API}/staff/conversations?limit=200" in stand_in.asked
    assert chat.status_code == 200, chat.text[:300]
    assert 'data-viewer-kind="staff"' in chat.text and "assigned to you" in chat.text
    assert "&lt;script&gt;" in chat.text and "<script>alert" not in chat.text
    assert took.status_code == 200 and "You took over this conversation." in took.text
    assert ticket.status_code == 200 and "Turned into a ticket" in ticket.text
    posted = [a for a in stand_in.asked if a.startswith("POST")]
    assert posted == [
        f"POST {API}/staff/conversations/{CID}/take",
        f"POST {API}/conversations/{CID}/ticket",
    ]


def test_the_chat_client_never_parses_text_as_html():
    """Bodies reach the page only through textContent: the client has no HTML sinks."""
    from berth_frontend.web.static import STATIC_DIR

    source = (STATIC_DIR / "js/chat.js").read_text()
    for sink in (
        "innerHTML",
        "outerHTML",
        "insertAdjacentHTML",
        "document.write",
        "eval(",
        "Function(",
    ):
        assert sink not in source, sink
    assert source.count("textContent") > 5
