"""An agent conversation once people are involved: the handoff refusing the agent's late
answer, another customer kept out of someone's agent, the conversation turned into a ticket
(once, even when asked twice at once)."""

import asyncio
import uuid

from agent_chat import messages, open_chat, request_of, say
from fixtures_agents import AGENTS_API, sql


async def test_after_a_handoff_the_agents_late_answer_is_refused(
    chat_agents_http, chat_agents_db, fake_platform, who, run_task
):
    ada, sam = who(), who(["user", "support"])
    app = fake_platform.app(ada)
    gate = uuid.uuid4().hex
    fake_platform.gates[gate] = asyncio.Event()
    fake_platform.script(
        app,
        {
            "kind": "sse",
            "chunks": ["I think ", "you should ", "panic"],
            "gate": gate,
            "wait_after": 0,
        },
    )
    chat = await open_chat(chat_agents_http, ada, app)
    await say(chat_agents_http, ada, chat, "my site is down")
    request_id = (await request_of(chat_agents_db, chat, 1))["id"]
    task = asyncio.create_task(run_task(request_id))

    async def first_piece_written():
        while True:
            found = await messages(chat_agents_http, ada, chat)
            if len(found) == 2 and found[1]["status"] == "streaming":
                return found[1]
            await asyncio.sleep(0.02)

    partial = await asyncio.wait_for(first_piece_written(), 10)
    # staff take the conversation over meanwhile
    r = await chat_agents_http.post(
        f"{AGENTS_API}/staff/conversations/{chat['id']}/take", headers=sam.headers
    )
    assert r.status_code == 200 and r.json()["state"] == "human", r.text
    fake_platform.gates[gate].set()
    await asyncio.wait_for(task, 10)

    row = await request_of(chat_agents_db, chat, 1)
    assert row["status"] == "refused" and row["error"] == "conversation human"
    found = await messages(chat_agents_http, ada, chat)
    assert [(m["seq"], m["sender_kind"], m["status"]) for m in found] == [
        (1, "customer", "complete"),
        (2, "agent", "failed"),
        (3, "system", "complete"),  # a person from support joined
    ]
    assert found[1]["id"] == partial["id"] and "panic" not in found[1]["body"]

    # while a person has it, the customer's messages ask the agent nothing
    await say(chat_agents_http, ada, chat, "hello human")
    rows = await sql(
        chat_agents_db,
        "SELECT count(*) AS n FROM chat.agent_requests WHERE conversation_id = :c",
        c=chat["id"],
    )
    assert rows[0]["n"] == 1


async def test_another_customer_never_reaches_someones_agent(chat_agents_http, fake_platform, who):
    ada, bob = who(), who()
    app = fake_platform.app(ada)
    r = await chat_agents_http.post(
        f"{AGENTS_API}/agent-conversations", json={"app_id": app["id"]}, headers=bob.headers
    )
    assert r.status_code == 404 and r.json()["error"]["code"] == "not_found"

    chat = await open_chat(chat_agents_http, ada, app)
    r = await chat_agents_http.post(
        f"{AGENTS_API}/conversations/{chat['id']}/messages",
        json={"body": "hi", "client_msg_id": "x"},
        headers=bob.headers,
    )
    assert r.status_code == 404
    url = f"{AGENTS_API}/agent-conversations/{chat['id']}/messages"
    assert (await chat_agents_http.get(url, headers=bob.headers)).status_code == 404
    r = await chat_agents_http.post(
        f"{AGENTS_API}/conversations/{chat['id']}/ticket", headers=bob.headers
    )
    assert r.status_code == 404

    web = fake_platform.app(ada, template="python-web")
    r = await chat_agents_http.post(
        f"{AGENTS_API}/agent-conversations", json={"app_id": web["id"]}, headers=ada.headers
    )
    assert r.status_code == 422 and r.json()["error"]["code"] == "not_an_agent"
    r = await chat_agents_http.post(
        f"{AGENTS_API}/agent-conversations", json={"app_id": "nope"}, headers=ada.headers
    )
    assert r.status_code == 422
    assert (
        await chat_agents_http.post(f"{AGENTS_API}/agent-conversations", json={})
    ).status_code == 401


async def test_a_conversation_becomes_a_ticket_with_its_transcript(
    chat_agents_http, chat_agents_db, fake_platform, who, run_task
):
    ada, sam = who(), who(["user", "support"])
    app = fake_platform.app(ada)
    fake_platform.script(app, {"kind": "json", "reply": "I cannot fix billing"})
    chat = await open_chat(chat_agents_http, ada, app)
    await say(chat_agents_http, ada, chat, "my invoice is wrong")
    await run_task((await request_of(chat_agents_db, chat, 1))["id"])

    r = await chat_agents_http.post(
        f"{AGENTS_API}/conversations/{chat['id']}/ticket", headers=sam.headers
    )
    assert r.status_code == 200, r.text
    made = r.json()
    ticket = fake_platform.tickets[-1]
    assert made["ticket_id"] == ticket["id"] and made["number"] == ticket["number"]
    assert ticket["owner_id"] == str(ada.id) and ticket["department"] == "support"
    assert ticket["subject"] == f"Chat with my agent {app['name']}"
    assert "#1 " in ticket["body"] and "customer:\nmy invoice is wrong" in ticket["body"]
    assert "agent:\nI cannot fix billing" in ticket["body"]

    [row] = await sql(
        chat_agents_db, "SELECT ticket_id FROM chat.conversations WHERE id = :c", c=chat["id"]
    )
    assert str(row["ticket_id"]) == ticket["id"]
    notice = (await messages(chat_agents_http, ada, chat))[-1]
    assert notice["body"] == f"This conversation is now ticket {ticket['number']}."

    # asked again (by the customer now): the same ticket, no second one
    count = len(fake_platform.tickets)
    r = await chat_agents_http.post(
        f"{AGENTS_API}/conversations/{chat['id']}/ticket", headers=ada.headers
    )
    assert r.status_code == 200 and r.json()["ticket_id"] == ticket["id"]
    assert len(fake_platform.tickets) == count


async def test_two_asks_at_once_make_one_ticket(chat_agents_http, fake_platform, who):
    ada, sam = who(), who(["user", "support"])
    app = fake_platform.app(ada)
    chat = await open_chat(chat_agents_http, ada, app)
    await say(chat_agents_http, ada, chat, "please escalate")
    count = len(fake_platform.tickets)
    url = f"{AGENTS_API}/conversations/{chat['id']}/ticket"
    first, second = await asyncio.gather(
        chat_agents_http.post(url, headers=ada.headers),
        chat_agents_http.post(url, headers=sam.headers),
    )
    assert (first.status_code, second.status_code) == (200, 200), (first.text, second.text)
    assert first.json()["ticket_id"] == second.json()["ticket_id"]
    assert len(fake_platform.tickets) == count + 1
