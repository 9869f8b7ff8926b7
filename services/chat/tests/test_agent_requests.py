"""A customer's agent conversation, in process, against a local fake of the platform on
127.0.0.2 (Traefik's entry with the agent behind it, deploy, auth, tickets): the request and
its task through the outbox, the streamed answer in one message, retries and their end, one
answer per request even when the task runs twice, the agent not running, an answer off the
contract. Handoff, other customers and tickets: test_agent_handoff.py."""

import pytest
from agent_chat import messages, open_chat, request_of, say
from fixtures_agents import sql

from berth_chat.agents import answering as agents
from berth_chat.agents.upstream import AgentUnreachable


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
