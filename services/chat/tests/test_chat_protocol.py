"""The chat WebSocket in-process: handshake checks, send/ack/dedupe, replay by seq, handoff,
read markers, limits (what a send does inside: test_chat_sends.py). Real PostgreSQL and
RabbitMQ (the app's fan-out is connected)."""

import uuid

import pytest
from fixtures_chat import API, WS, start_conversation
from fixtures_chat import until as _until
from starlette.testclient import TestClient
from starlette.websockets import WebSocketDisconnect


def test_a_foreign_origin_is_refused_before_accept(chat_client: TestClient, person):
    alice = person()
    with pytest.raises(WebSocketDisconnect) as refused:
        with chat_client.websocket_connect(
            WS, headers={**alice.headers, "Origin": "https://evil.example"}
        ):
            pass
    assert refused.value.code == 1008


def test_a_cookie_without_origin_is_refused_and_no_token_closes_4401(chat_client, person):
    alice = person()
    chat_client.cookies.set("berth_access", alice.token)
    try:
        with pytest.raises(WebSocketDisconnect) as refused:
            with chat_client.websocket_connect(WS):
                pass
    finally:
        chat_client.cookies.clear()
    assert refused.value.code == 1008
    with chat_client.websocket_connect(WS) as ws:
        with pytest.raises(WebSocketDisconnect) as closed:
            ws.receive_json()
    assert closed.value.code == 4401
    with chat_client.websocket_connect(WS, headers={"Authorization": "Bearer nope"}) as ws:
        with pytest.raises(WebSocketDisconnect) as closed:
            ws.receive_json()
    assert closed.value.code == 4401


def test_the_platform_origin_with_the_cookie_is_accepted(chat_client, person):
    import os

    alice = person()
    conversation = start_conversation(chat_client, alice)
    origin = os.environ["BERTH_PUBLIC_URL"].rstrip("/")
    chat_client.cookies.set("berth_access", alice.token)
    try:
        with chat_client.websocket_connect(WS, headers={"Origin": origin}) as ws:
            ws.send_json({"type": "subscribe", "conversation_id": conversation["id"]})
            assert _until(ws, "subscribed")["last_seq"] == 0
    finally:
        chat_client.cookies.clear()


def test_send_is_acked_with_its_seq_and_a_retry_is_the_same_message(chat_client, person):
    alice = person()
    conversation = start_conversation(chat_client, alice)
    cid = conversation["id"]
    with chat_client.websocket_connect(WS, headers=alice.headers) as ws:
        ws.send_json({"type": "subscribe", "conversation_id": cid, "after_seq": 0})
        _until(ws, "subscribed")
        for n in range(1, 4):
            ws.send_json(
                {
                    "type": "send",
                    "conversation_id": cid,
                    "client_msg_id": f"m{n}",
                    "body": f"hello {n}",
                }
            )
            ack = _until(ws, "ack")
            assert (ack["seq"], ack["duplicate"]) == (n, False)
        ws.send_json(
            {"type": "send", "conversation_id": cid, "client_msg_id": "m2", "body": "hello 2"}
        )
        again = _until(ws, "ack")
        assert (again["seq"], again["duplicate"]) == (2, True)
    history = chat_client.get(f"{API}/conversations/{cid}/messages", headers=alice.headers).json()
    assert [m["seq"] for m in history] == [1, 2, 3]
    assert [m["body"] for m in history] == ["hello 1", "hello 2", "hello 3"]


def test_two_sockets_see_each_others_messages_and_a_resume_replays_from_the_last_seq(
    chat_client, person, staff
):
    alice = person()
    cid = start_conversation(chat_client, alice)["id"]
    with (
        chat_client.websocket_connect(WS, headers=alice.headers) as a,
        chat_client.websocket_connect(WS, headers=staff.headers) as s,
    ):
        for ws in (a, s):
            ws.send_json({"type": "subscribe", "conversation_id": cid})
            _until(ws, "subscribed")
        a.send_json({"type": "send", "conversation_id": cid, "client_msg_id": "a1", "body": "hi"})
        got = _until(s, "message")["message"]
        assert (got["seq"], got["body"], got["sender_kind"]) == (1, "hi", "customer")
        s.send_json({"type": "send", "conversation_id": cid, "client_msg_id": "s1", "body": "yes?"})
        # staff answering takes the conversation: a system notice, then the answer
        seen = [_until(a, "message")["message"] for _ in range(3)]
        assert [(m["seq"], m["sender_kind"]) for m in seen] == [
            (1, "customer"),
            (2, "system"),
            (3, "staff"),
        ]
    convo = chat_client.get(f"{API}/conversations/{cid}", headers=alice.headers).json()
    assert convo["state"] == "human" and convo["assignee_id"] == str(staff.id)
    # resume from seq 1: exactly 2 and 3, nothing before, nothing twice
    with chat_client.websocket_connect(WS, headers=alice.headers) as again:
        again.send_json({"type": "subscribe", "conversation_id": cid, "after_seq": 1})
        frames = []
        while (frame := again.receive_json())["type"] != "subscribed":
            if frame["type"] == "message":
                frames.append(frame)
        assert [f["message"]["seq"] for f in frames] == [2, 3]
        assert frame["last_seq"] == 3


def test_another_customer_can_neither_join_nor_read(chat_client, person):
    alice, bob = person(), person()
    cid = start_conversation(chat_client, alice)["id"]
    assert chat_client.get(f"{API}/conversations/{cid}", headers=bob.headers).status_code == 404
    r = chat_client.get(f"{API}/conversations/{cid}/messages", headers=bob.headers)
    assert r.status_code == 404 and r.json()["error"]["code"] == "not_found"
    with chat_client.websocket_connect(WS, headers=bob.headers) as ws:
        ws.send_json({"type": "subscribe", "conversation_id": cid})
        assert _until(ws, "error")["code"] == "not_found"
        ws.send_json({"type": "send", "conversation_id": cid, "client_msg_id": "x", "body": "boo"})
        assert _until(ws, "error")["status"] == 404
    assert chat_client.get(f"{API}/staff/conversations", headers=bob.headers).status_code == 403


def test_size_limits_bad_frames_and_unknown_conversations(chat_client, person):
    alice = person()
    cid = start_conversation(chat_client, alice)["id"]
    with chat_client.websocket_connect(WS, headers=alice.headers) as ws:
        ws.send_text("not json")
        assert _until(ws, "error")["code"] == "bad_frame"
        ws.send_json(
            {"type": "send", "conversation_id": cid, "client_msg_id": "big", "body": "x" * 5000}
        )
        err = _until(ws, "error")
        assert (err["status"], err["client_msg_id"]) == (413, "big")
        ws.send_json({"type": "subscribe", "conversation_id": str(uuid.uuid4())})
        assert _until(ws, "error")["code"] == "not_found"
        ws.send_text("y" * 20_000)
        with pytest.raises(WebSocketDisconnect) as closed:
            _until(ws, "never")
    assert closed.value.code == 4413
    r = chat_client.post(
        f"{API}/conversations/{cid}/messages",
        json={"client_msg_id": "big", "body": "x" * 5000},
        headers=alice.headers,
    )
    assert r.status_code == 413 and r.json()["error"]["code"] == "too_large"


def test_bodies_are_stored_as_typed_plain_text(chat_client, person):
    alice = person()
    cid = start_conversation(chat_client, alice)["id"]
    evil = '<img src=x onerror="alert(1)"><script>alert(2)</script>'
    r = chat_client.post(
        f"{API}/conversations/{cid}/messages",
        json={"client_msg_id": "x1", "body": evil},
        headers=alice.headers,
    )
    assert r.status_code == 200 and r.json()["seq"] == 1
    page = chat_client.get(f"{API}/conversations/{cid}/messages", headers=alice.headers)
    assert page.headers["content-type"].startswith("application/json")
    assert page.json()[0]["body"] == evil


def test_read_markers_are_kept_and_announced(chat_client, person, staff):
    alice = person()
    cid = start_conversation(chat_client, alice)["id"]
    chat_client.post(
        f"{API}/conversations/{cid}/messages",
        json={"client_msg_id": "r1", "body": "one"},
        headers=alice.headers,
    )
    with (
        chat_client.websocket_connect(WS, headers=alice.headers) as a,
        chat_client.websocket_connect(WS, headers=staff.headers) as s,
    ):
        for ws in (a, s):
            ws.send_json({"type": "subscribe", "conversation_id": cid})
            _until(ws, "subscribed")
        s.send_json({"type": "read", "conversation_id": cid, "seq": 99})
        read = _until(a, "read")
        assert (read["participant_id"], read["seq"]) == (str(staff.id), 1)
        s.send_json({"type": "typing", "conversation_id": cid})
        assert _until(a, "typing")["sender_kind"] == "staff"


def test_handoff_take_release_close(chat_client, person, staff):
    alice = person()
    cid = start_conversation(chat_client, alice)["id"]
    took = chat_client.post(f"{API}/staff/conversations/{cid}/take", headers=staff.headers)
    assert took.status_code == 200 and took.json()["state"] == "human"
    released = chat_client.post(f"{API}/staff/conversations/{cid}/release", headers=staff.headers)
    assert released.json()["state"] == "bot" and released.json()["assignee_id"] is None
    again = chat_client.post(f"{API}/staff/conversations/{cid}/release", headers=staff.headers)
    assert again.status_code == 409
    closed = chat_client.post(f"{API}/conversations/{cid}/close", headers=alice.headers)
    assert closed.json()["state"] == "closed"
    r = chat_client.post(
        f"{API}/conversations/{cid}/messages",
        json={"client_msg_id": "late", "body": "hello?"},
        headers=alice.headers,
    )
    assert r.status_code == 409
    listed = chat_client.get(f"{API}/staff/conversations", headers=staff.headers).json()
    assert cid not in {c["id"] for c in listed}


async def test_the_message_rate_is_per_user():
    from berth_chat.live.connection import MessageLimiter

    limiter = MessageLimiter("memory://", "2/minute")
    assert [await limiter.allow("alice") for _ in range(3)] == [True, True, False]
    assert await limiter.allow("bob")


def test_the_message_rate_is_a_moving_window(monkeypatch):
    """In memory: a sender gets a message back as their oldest one leaves the window, not at a
    fixed boundary; a refusal takes nothing; those silent for a window are forgotten."""
    from limits import parse

    from berth_common import ratelimit

    now = [1000.0]
    monkeypatch.setattr(ratelimit.time, "monotonic", lambda: now[0])
    window, rate = ratelimit.LocalMovingWindow(), parse("2/10seconds")

    def hit(user: str) -> bool:
        return window.hit(rate, user) is None

    assert hit("alice")
    now[0] += 4
    assert [hit("alice"), hit("alice")] == [True, False]
    now[0] += 2
    assert hit("alice") is False  # both within the last 10 s
    assert window.hit(rate, "alice") == 4  # the first leaves the window in 4 s
    now[0] += 4.5  # the first left the window, the second has not
    assert [hit("alice"), hit("alice")] == [True, False]
    now[0] += 11
    assert hit("bob") and set(window.hits) == {"bob"}


def test_pings_and_a_silent_peer_is_closed_4408(berth_env, public_jwks, person):
    from berth_chat.config import ChatSettings
    from berth_chat.main import create_app
    from berth_testing.plugin import trust_keys

    app = create_app(ChatSettings(ping_interval_seconds=0.3, ping_timeout_seconds=0.5))
    alice = person()
    with TestClient(app) as client:
        trust_keys(app, public_jwks)
        with client.websocket_connect(WS, headers=alice.headers) as ws:
            assert _until(ws, "hello")["user_id"] == str(alice.id)
            assert _until(ws, "ping")["type"] == "ping"
            # answering keeps it open past the timeout
            ws.send_json({"type": "pong"})
            assert _until(ws, "ping")["type"] == "ping"
            with pytest.raises(WebSocketDisconnect) as closed:
                _until(ws, "never")
    assert closed.value.code == 4408


def test_a_rest_send_past_the_rate_is_a_documented_429(chat_client, person):
    """The REST send answers 429 past the per-person rate, and its OpenAPI says so (the fuzz
    found the 429 undeclared)."""
    from berth_chat.live.connection import MessageLimiter

    alice = person()
    cid = start_conversation(chat_client, alice)["id"]
    app = chat_client.app
    kept, app.state.limiter = app.state.limiter, MessageLimiter("memory://", "1/minute")
    try:
        url = f"{API}/conversations/{cid}/messages"
        first = chat_client.post(
            url, json={"client_msg_id": "r1", "body": "a"}, headers=alice.headers
        )
        assert first.status_code == 200, first.text
        r = chat_client.post(url, json={"client_msg_id": "r2", "body": "b"}, headers=alice.headers)
        assert r.status_code == 429 and r.json()["error"]["code"] == "rate_limited", r.text
    finally:
        app.state.limiter = kept
    document = chat_client.get("/api/chat/openapi.json").json()
    assert (
        "429"
        in document["paths"][f"{API}/conversations/{{conversation_id}}/messages"]["post"][
            "responses"
        ]
    )
