"""A customer's agent conversation, in process, against a local fake of the platform on
127.0.0.2 (Traefik's entry with the agent behind it, deploy, auth, tickets): the request and
its task through the outbox, the streamed answer in one message, retries and their end, one
answer per request even when the task runs twice, the agent not running, the handoff refusing
a late answer, another customer kept out, the conversation turned into a ticket."""

import asyncio
import json
import uuid

import pytest
from fixtures_agents import AGENTS_API, sql

from berth_chat.agents import service as agents
from berth_chat.agents.upstream import AgentUnreachable, Upstream


@pytest.fixture
def run_task(chat_agents_db, chat_agents_settings):
    """Run the Celery task's body as a worker would (its own transactions); returns the
    message_delta frames it fanned out live."""
    upstream = Upstream(chat_agents_settings)
    frames: list[dict] = []

    async def in_transaction(fn, **kwargs):
        async with chat_agents_db() as session:
            result = await fn(session, **kwargs)
            await session.commit()
            return result

    async def live(message):
        frames.append(json.loads(message.body))

    async def run(request_id):
        await agents.answer(in_transaction, upstream, chat_agents_settings, request_id, live)
        return frames

    return run


async def open_chat(http, owner, app) -> dict:
    r = await http.post(
        f"{AGENTS_API}/agent-conversations", json={"app_id": app["id"]}, headers=owner.headers
    )
    assert r.status_code == 201, r.text
    return r.json()


async def say(http, owner, conversation, body, client_msg_id=None) -> dict:
    """The customer's message, as any conversation's (chat-core's send); its ack."""
    r = await http.post(
        f"{AGENTS_API}/conversations/{conversation['id']}/messages",
        json={"body": body, "client_msg_id": client_msg_id or uuid.uuid4().hex},
        headers=owner.headers,
    )
    assert r.status_code == 200, r.text
    return r.json()


async def messages(http, owner, conversation) -> list[dict]:
    r = await http.get(
        f"{AGENTS_API}/agent-conversations/{conversation['id']}/messages", headers=owner.headers
    )
    assert r.status_code == 200, r.text
    return r.json()


async def request_of(db, conversation, seq) -> dict:
    [row] = await sql(
        db,
        "SELECT * FROM chat.agent_requests WHERE conversation_id = :c AND request_seq = :s",
        c=conversation["id"],
        s=seq,
    )
    return row


async def test_a_streamed_answer_lands_in_one_message_once(
    chat_agents_http, chat_agents_db, fake_platform, who, run_task
):
    ada = who()
    app = fake_platform.app(ada)
    fake_platform.script(app, {"kind": "sse", "chunks": ["Hel", "lo, ", "Ada", "!"]})
    chat = await open_chat(chat_agents_http, ada, app)
    assert (chat["kind"], chat["state"], chat["agent_app_id"]) == ("agent", "bot", app["id"])

    sent = await say(chat_agents_http, ada, chat, "hi there", client_msg_id="m-1")
    again = await say(chat_agents_http, ada, chat, "hi there", client_msg_id="m-1")
    # a retried send is the same message
    assert (again["id"], again["duplicate"], sent["seq"]) == (sent["id"], True, 1)

    request = await request_of(chat_agents_db, chat, 1)
    assert request["status"] == "queued"
    # the task left through the outbox, in the message's transaction, named by the request
    [task] = await sql(
        chat_agents_db,
        "SELECT headers FROM chat.outbox WHERE headers->>'id' = :id",
        id=str(request["id"]),
    )
    assert task["headers"]["task"] == "chat.agents.ask"

    frames = await run_task(request["id"])
    [call] = fake_platform.calls_to(app)
    # through the platform's entry with the app's Host header, the streaming Accept
    assert call["host"] == f"{app['slug']}.apps.localhost"
    assert call["accept"] == "text/event-stream, application/json"
    assert (call["message"], call["conversation_id"]) == ("hi there", chat["id"])
    deltas = [f for f in frames if f["type"] == "message_delta"]
    assert [(d["offset"], d["delta"]) for d in deltas] == [
        (0, "Hel"),
        (3, "lo, "),
        (7, "Ada"),
        (10, "!"),
    ]
    assert {d["seq"] for d in deltas} == {2}

    found = await messages(chat_agents_http, ada, chat)
    assert [(m["seq"], m["sender_kind"], m["body"], m["status"]) for m in found] == [
        (1, "customer", "hi there", "complete"),
        (2, "agent", "Hello, Ada!", "complete"),
    ]
    done = await request_of(chat_agents_db, chat, 1)
    assert (done["status"], done["attempts"], str(done["reply_message_id"])) == (
        "done",
        1,
        found[1]["id"],
    )

    # the task delivered again (a worker died before its ack): no second question, no answer
    await run_task(request["id"])
    assert len(fake_platform.calls_to(app)) == 1
    assert len(await messages(chat_agents_http, ada, chat)) == 2


async def test_ndjson_and_plain_json_agents_are_understood(
    chat_agents_http, chat_agents_db, fake_platform, who, run_task
):
    ada = who()
    app = fake_platform.app(ada)
    fake_platform.script(
        app,
        {"kind": "ndjson", "chunks": ["one ", "two"]},
        {"kind": "json", "reply": "plain <b>answer</b>"},
    )
    chat = await open_chat(chat_agents_http, ada, app)
    await say(chat_agents_http, ada, chat, "first")
    await run_task((await request_of(chat_agents_db, chat, 1))["id"])
    await say(chat_agents_http, ada, chat, "second")
    await run_task((await request_of(chat_agents_db, chat, 3))["id"])
    found = await messages(chat_agents_http, ada, chat)
    assert [(m["sender_kind"], m["body"]) for m in found] == [
        ("customer", "first"),
        ("agent", "one two"),
        ("customer", "second"),
        ("agent", "plain <b>answer</b>"),  # stored as the text it is
    ]


async def test_transient_failures_are_retried_then_the_conversation_is_told(
    chat_agents_http, chat_agents_db, chat_agents_settings, fake_platform, who, run_task
):
    ada = who()
    app = fake_platform.app(ada)
    fake_platform.script(app, {"kind": "status", "status": 503})
    chat = await open_chat(chat_agents_http, ada, app)
    await say(chat_agents_http, ada, chat, "are you there?")
    request_id = (await request_of(chat_agents_db, chat, 1))["id"]

    for attempt in range(1, chat_agents_settings.agent_max_attempts):
        with pytest.raises(AgentUnreachable):  # Celery retries it, with backoff
            await run_task(request_id)
        row = await request_of(chat_agents_db, chat, 1)
        assert (row["status"], row["attempts"]) == ("running", attempt)
        assert len(await messages(chat_agents_http, ada, chat)) == 1

    await run_task(request_id)  # the last try: no raise, the conversation says so
    row = await request_of(chat_agents_db, chat, 1)
    assert row["status"] == "failed" and "503" in row["error"]
    notice = (await messages(chat_agents_http, ada, chat))[-1]
    assert notice["sender_kind"] == "system"
    assert notice["body"].startswith(f"Your agent {app['name']} did not answer")
    assert "talk to support or open a ticket" in notice["body"]
    assert notice["actions"] == ["switch_to_support", "open_ticket"]
    assert len(fake_platform.calls_to(app)) == chat_agents_settings.agent_max_attempts


async def test_an_agent_that_does_not_run_is_explained_and_not_called(
    chat_agents_http, chat_agents_db, fake_platform, who, run_task
):
    ada = who()
    app = fake_platform.app(ada)
    chat = await open_chat(chat_agents_http, ada, app)
    app.update(status="suspended", suspended_by="billing", status_reason="balance below zero")
    await say(chat_agents_http, ada, chat, "hello?")
    await run_task((await request_of(chat_agents_db, chat, 1))["id"])

    notice = (await messages(chat_agents_http, ada, chat))[-1]
    assert notice["body"] == (
        f"Your agent {app['name']} is suspended because your balance is below zero — "
        "top up, or talk to support or open a ticket."
    )
    assert notice["actions"] == ["switch_to_support", "open_ticket"]
    assert fake_platform.calls_to(app) == []
    # staff see the same notice with its actions
    staff_view = await messages(chat_agents_http, who(["user", "support"]), chat)
    assert staff_view[-1] == notice
    row = await request_of(chat_agents_db, chat, 1)
    assert (row["status"], row["error"]) == ("failed", "app suspended")

    app.update(status="stopped", suspended_by=None, status_reason=None)
    await say(chat_agents_http, ada, chat, "now?")
    await run_task((await request_of(chat_agents_db, chat, 3))["id"])
    notice = (await messages(chat_agents_http, ada, chat))[-1]
    assert notice["body"].startswith(f"Your agent {app['name']} is stopped")


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


async def test_an_answer_off_the_contract_is_not_retried_and_is_explained(
    chat_agents_http, chat_agents_db, fake_platform, who, run_task
):
    ada = who()
    app = fake_platform.app(ada)
    fake_platform.script(app, {"kind": "status", "status": 500})
    chat = await open_chat(chat_agents_http, ada, app)
    await say(chat_agents_http, ada, chat, "break please")
    await run_task((await request_of(chat_agents_db, chat, 1))["id"])  # no raise: no retry
    row = await request_of(chat_agents_db, chat, 1)
    assert (row["status"], row["attempts"]) == ("failed", 1)
    notice = (await messages(chat_agents_http, ada, chat))[-1]
    assert notice["body"] == (
        f"Your agent {app['name']} answered in a way chat cannot read (the agent answered "
        "500) — talk to support or open a ticket."
    )
    assert len(fake_platform.calls_to(app)) == 1


def test_the_task_acks_late_and_retries_only_transient_failures_with_backoff():
    from berth_chat.tasks import ask_agent_task, settings
    from berth_common.errors import TransientError

    assert ask_agent_task.name == "chat.agents.ask"
    assert ask_agent_task.acks_late is True and ask_agent_task.reject_on_worker_lost is True
    assert issubclass(AgentUnreachable, TransientError)
    assert TransientError in ask_agent_task.autoretry_for
    assert ask_agent_task.retry_backoff == 2 and ask_agent_task.retry_jitter is True
    assert ask_agent_task.retry_backoff_max == settings.agent_retry_backoff_max_seconds
    assert ask_agent_task.max_retries >= settings.agent_max_attempts
    assert ask_agent_task.soft_time_limit > settings.agent_total_timeout_seconds
    assert ask_agent_task.time_limit > ask_agent_task.soft_time_limit


async def test_a_task_redelivered_mid_answer_finishes_the_same_message(
    chat_agents_http, chat_agents_db, fake_platform, who, run_task
):
    ada = who()
    app = fake_platform.app(ada)
    fake_platform.script(app, {"kind": "sse", "chunks": ["whole ", "answer"]})
    chat = await open_chat(chat_agents_http, ada, app)
    await say(chat_agents_http, ada, chat, "question")
    request_id = (await request_of(chat_agents_db, chat, 1))["id"]

    # a first delivery began the answer, then its worker died (no ack): the message streams
    async def tx(fn, **kwargs):
        async with chat_agents_db() as session:
            result = await fn(session, **kwargs)
            await session.commit()
            return result

    job = await tx(agents.begin, request_id=request_id)
    begun = await tx(agents.start_reply, job=job)
    await tx(agents.save_progress, job=job, message_id=begun.id, text="half an ans")

    await run_task(request_id)  # the redelivery
    found = await messages(chat_agents_http, ada, chat)
    assert [(m["seq"], m["sender_kind"], m["body"], m["status"]) for m in found] == [
        (1, "customer", "question", "complete"),
        (2, "agent", "whole answer", "complete"),
    ]
    assert found[1]["id"] == str(begun.id)
    row = await request_of(chat_agents_db, chat, 1)
    assert (row["status"], row["attempts"]) == ("done", 2)


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
