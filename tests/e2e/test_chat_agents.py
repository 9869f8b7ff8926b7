"""Chat with one's own AI agent, end to end: a real ai-agent app deployed from a local
repository that streams its answer over SSE, reached by chat's worker through Traefik's web
entry with the app's Host header; the answer streams into the conversation (message_delta
frames over the WebSocket through Traefik) and lands whole in one message. A stopped agent is
explained in the conversation; a late answer after staff took over is refused; another
customer never reaches the agent; the conversation becomes a ticket with its transcript."""

import time

import httpx
import pytest
from chat_e2e import AGENT, API, Listener, messages, open_chat, say
from deploy_e2e import deployed, request, wait_operation
from deploy_testkit import make_repo, wait_for

from berth_testing.oauth import bearer

pytestmark = pytest.mark.usefixtures("deploy_node")


@pytest.fixture(scope="module")
def ada(signed_in):
    return signed_in()


@pytest.fixture(scope="module")
def agent(platform, ada, tmp_path_factory):
    repo = make_repo(tmp_path_factory.mktemp("chat-agent") / "agent", {"app.py": AGENT})
    with httpx.Client(base_url=platform.public_url, timeout=20) as edge:
        return deployed(edge, platform, ada, f"file://{repo}", template="ai-agent")


def test_an_agent_streams_its_answer_into_the_conversation(edge, platform, ada, agent):
    chat = open_chat(edge, ada, agent)
    listener = Listener(platform, ada, chat)
    listener.start()
    try:
        wait_for(lambda: any(f["type"] == "subscribed" for f in listener.frames), 10, "subscribed")
        say(edge, ada, chat, "hello agent")
        found = wait_for(
            lambda: (
                (m := messages(edge, ada, chat))[-1]["status"] == "complete"
                and m[-1]["sender_kind"] == "agent"
                and m
            ),
            90,
            "the agent's answer",
        )
        assert [(m["seq"], m["sender_kind"], m["body"]) for m in found] == [
            (1, "customer", "hello agent"),
            (2, "agent", "You said: hello agent"),
        ]
        deltas = wait_for(
            lambda: [f for f in listener.frames if f["type"] == "message_delta"] or None,
            10,
            "message_delta frames",
        )
        # the pieces arrived one by one, each where it belongs in the one message; a retried
        # answer (the agent's stream broke: the task asks again) starts over at offset 0, so
        # the pieces of the last pass are the answer, and every piece applied by its offset
        # gives the same text
        pieces = [(d["seq"], d["offset"], d["delta"]) for d in deltas]
        last_pass = max(i for i, (_, offset, _) in enumerate(pieces) if offset == 0)
        assert pieces[last_pass:] == [
            (2, 0, "You "),
            (2, 4, "said: "),
            (2, 10, "hello agent"),
        ]
        text = ""
        for _, offset, piece in pieces:
            text = text[:offset] + piece
        assert text == "You said: hello agent"
        final = wait_for(
            lambda: [
                f
                for f in listener.frames
                if f.get("message", {}).get("seq") == 2 and f["message"]["status"] == "complete"
            ],
            10,
            "the complete answer's frame",
        )
        assert final[-1]["message"]["body"] == "You said: hello agent"
    finally:
        listener.close()


def test_another_customer_never_reaches_the_agent(edge, signed_in, ada, agent):
    bob = signed_in()
    r = edge.post(f"{API}/agent-conversations", json={"app_id": agent["id"]}, headers=bob.headers)
    assert r.status_code == 404
    chat = open_chat(edge, ada, agent)
    r = edge.post(
        f"{API}/conversations/{chat['id']}/messages",
        json={"body": "let me in", "client_msg_id": "b-1"},
        headers=bob.headers,
    )
    assert r.status_code == 404
    assert (
        edge.get(
            f"{API}/agent-conversations/{chat['id']}/messages", headers=bob.headers
        ).status_code
        == 404
    )
    assert (
        edge.post(f"{API}/conversations/{chat['id']}/ticket", headers=bob.headers).status_code
        == 404
    )


def test_after_staff_take_over_the_agents_late_answer_is_refused(
    edge, platform, ada, agent, admin_token
):
    staff = bearer(admin_token)
    chat = open_chat(edge, ada, agent)
    say(edge, ada, chat, "slow question")
    # the first piece arrived (the agent then pauses): the answer is streaming
    wait_for(
        lambda: any(
            m["sender_kind"] == "agent" and m["status"] == "streaming"
            for m in messages(edge, ada, chat)
        ),
        60,
        "the answer streaming",
    )
    r = edge.post(f"{API}/staff/conversations/{chat['id']}/take", headers=staff)
    assert r.status_code == 200 and r.json()["state"] == "human", r.text
    found = wait_for(
        lambda: (
            (m := messages(edge, ada, chat))
            and any(x["sender_kind"] == "agent" and x["status"] == "failed" for x in m)
            and m
        ),
        60,
        "the late answer refused",
    )
    agent_messages = [m for m in found if m["sender_kind"] == "agent"]
    assert len(agent_messages) == 1 and "slow question" not in agent_messages[0]["body"]
    time.sleep(1)
    assert all(
        m["status"] != "complete" for m in messages(edge, ada, chat) if m["sender_kind"] == "agent"
    )


def test_a_stopped_agent_is_explained_and_the_chat_becomes_a_ticket(
    edge, platform, ada, agent, admin_token
):
    admin = bearer(admin_token)
    r = edge.post(
        "/api/tickets/v1/admin/departments",
        json={"slug": "support", "name": "Support"},
        headers=admin,
    )
    assert r.status_code in (201, 409), r.text

    chat = open_chat(edge, ada, agent)
    stop = request(edge, ada, agent["id"], "stop")
    assert wait_operation(edge, ada, agent["id"], stop["id"])["status"] == "succeeded"
    try:
        say(edge, ada, chat, "are you there?")
        notice = wait_for(
            lambda: (m := messages(edge, ada, chat))[-1]["sender_kind"] == "system" and m[-1],
            60,
            "the notice",
        )
        assert notice["body"] == (
            f"Your agent {agent['name']} is stopped — start it from its app page, or talk to "
            "support or open a ticket."
        )
        assert notice["actions"] == ["switch_to_support", "open_ticket"]

        r = edge.post(f"{API}/conversations/{chat['id']}/ticket", headers=ada.headers)
        assert r.status_code == 200, r.text
        ticket_id = r.json()["ticket_id"]
        r = edge.get(f"/api/tickets/v1/tickets/{ticket_id}", headers=ada.headers)
        assert r.status_code == 200, r.text
        ticket = r.json()
        transcript = ticket["messages"][0]["body"]
        assert "customer:\nare you there?" in transcript
        assert f"Your agent {agent['name']} is stopped" in transcript
        r = edge.get(f"{API}/conversations/{chat['id']}", headers=ada.headers)
        assert r.status_code == 200 and r.json()["ticket_id"] == ticket_id
    finally:
        start = request(edge, ada, agent["id"], "start")
        wait_operation(edge, ada, agent["id"], start["id"])


def test_the_agent_is_reached_only_through_the_platform(platform, agent):
    # what the worker does, by hand: Traefik's entry with the app's Host header
    r = httpx.post(
        platform.public_url + "/chat",
        json={"message": "hi", "conversation_id": "c1"},
        headers={"Host": f"{agent['slug']}.apps.localhost"},
        timeout=20,
    )
    assert r.status_code == 200 and r.json() == {"reply": "You said: hi"}
