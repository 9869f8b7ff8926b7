"""What a send does inside, in-process: one statement, a retry's seq given back, retention
never reusing a seq, a retry that announces an unannounced message, a failed replay leaving no
subscription behind, the sweep. Real PostgreSQL and RabbitMQ (the app's fan-out is connected)."""

import uuid

from fixtures_chat import API, WS, start_conversation
from fixtures_chat import until as _until


def test_retention_deletes_old_messages_and_seqs_are_never_reused(chat_client, person):
    from datetime import UTC, datetime, timedelta

    from sqlalchemy import update

    from berth_chat.models import Message
    from berth_chat.retention.dao import RetentionDAO

    alice = person()
    cid = start_conversation(chat_client, alice)["id"]
    for n in (1, 2):
        chat_client.post(
            f"{API}/conversations/{cid}/messages",
            json={"client_msg_id": f"k{n}", "body": f"m{n}"},
            headers=alice.headers,
        )
    sessionmaker = chat_client.app.state.db.sessionmaker

    async def age_and_purge() -> int:
        async with sessionmaker() as session:
            await session.execute(
                update(Message)
                .where(Message.conversation_id == uuid.UUID(cid), Message.seq == 1)
                .values(created_at=datetime(2000, 1, 1, tzinfo=UTC))
            )
            cutoff = datetime.now(UTC) - timedelta(days=365)
            deleted = await RetentionDAO(session).purge(cutoff, tiers=("standard",))
            await session.commit()
            return deleted

    assert chat_client.portal.call(age_and_purge) >= 1
    history = chat_client.get(f"{API}/conversations/{cid}/messages", headers=alice.headers).json()
    assert [m["seq"] for m in history] == [2]
    r = chat_client.post(
        f"{API}/conversations/{cid}/messages",
        json={"client_msg_id": "k3", "body": "m3"},
        headers=alice.headers,
    )
    assert r.json()["seq"] == 3


def test_a_plain_send_is_one_call_outside_a_transaction_and_a_retry_gives_its_seq_back(
    chat_client, person
):
    """A customer's send in their support conversation: one statement (chat.post_plain: lock,
    check, seq, insert unless a retry) on a connection in autocommit, so no BEGIN and no
    COMMIT round trips. A retry through that path takes no seq."""
    from sqlalchemy import event

    alice = person()
    cid = start_conversation(chat_client, alice)["id"]
    engine = chat_client.app.state.db.engine.sync_engine
    statements: list[tuple[str, bool, bool]] = []

    def seen(conn, cursor, statement, *args):
        autocommit = conn.connection.dbapi_connection.autocommit
        statements.append((statement.split()[0], "chat.post_plain(" in statement, autocommit))

    with chat_client.websocket_connect(WS, headers=alice.headers) as ws:
        ws.send_json({"type": "subscribe", "conversation_id": cid, "after_seq": 0})
        _until(ws, "subscribed")
        event.listen(engine, "before_cursor_execute", seen)
        try:
            send = {"type": "send", "conversation_id": cid, "client_msg_id": "a", "body": "hi"}
            ws.send_json(send)
            assert _until(ws, "ack")["seq"] == 1
            assert statements == [("SELECT", True, True)]
            ws.send_json(send)
            again = _until(ws, "ack")
            assert (again["seq"], again["duplicate"]) == (1, True)
            ws.send_json({**send, "client_msg_id": "b"})
            assert _until(ws, "ack")["seq"] == 2
        finally:
            event.remove(engine, "before_cursor_execute", seen)


def test_a_send_waits_longer_for_a_pooled_connection_than_the_platform_default(chat_client):
    """A burst of sends queues for the pool (bounded, 15 s) rather than failing 503 at 5 s."""
    assert chat_client.app.state.db.engine.sync_engine.pool.timeout() == 15.0


def test_a_retry_of_a_send_that_committed_unannounced_fans_it_out(chat_client, person):
    """The send committed but its sender never heard (the connection dropped at the commit's
    answer: 503), so nobody published it. The retry (same client_msg_id) is a duplicate; it
    must announce the message, or the live subscribers never get it."""
    from berth_chat.conversations import service

    alice = person()
    cid = start_conversation(chat_client, alice)["id"]
    sessionmaker = chat_client.app.state.db.sessionmaker
    actor = service.person(alice.id, frozenset({"user"}))

    async def committed_unannounced() -> None:
        async with sessionmaker() as session:
            await service.post(session, uuid.UUID(cid), actor, "lost?", "x1", 4096)
            await session.commit()

    with (
        chat_client.websocket_connect(WS, headers=alice.headers) as watcher,
        chat_client.websocket_connect(WS, headers=alice.headers) as sender,
    ):
        watcher.send_json({"type": "subscribe", "conversation_id": cid, "after_seq": 0})
        _until(watcher, "subscribed")
        chat_client.portal.call(committed_unannounced)
        sender.send_json(
            {"type": "send", "conversation_id": cid, "client_msg_id": "x1", "body": "lost?"}
        )
        assert _until(sender, "ack")["duplicate"] is True
        sender.send_json({"type": "typing", "conversation_id": cid})
        first = watcher.receive_json()
        while first["type"] in {"hello", "ping"}:
            first = watcher.receive_json()
        assert first["type"] == "message" and first["message"]["seq"] == 1


def test_a_subscribe_whose_replay_fails_leaves_no_subscription_holding_messages_back(
    chat_client, person, monkeypatch
):
    """The replay failed (the pool was busy): the client hears 503 and must subscribe again.
    No half-made subscription may stay registered, replaying for ever, holding back (and
    piling up) the live messages; the next subscribe gets everything."""
    from berth_chat.conversations import service

    alice = person()
    cid = start_conversation(chat_client, alice)["id"]
    hub = chat_client.app.state.hub
    real_replay = service.replay

    async def busy(*args, **kwargs):
        raise TimeoutError("QueuePool limit reached")

    with chat_client.websocket_connect(WS, headers=alice.headers) as ws:
        monkeypatch.setattr(service, "replay", busy)
        ws.send_json({"type": "subscribe", "conversation_id": cid, "after_seq": 0})
        assert _until(ws, "error")["status"] == 503
        assert uuid.UUID(cid) not in hub.subscriptions
        monkeypatch.setattr(service, "replay", real_replay)
        ws.send_json({"type": "send", "conversation_id": cid, "client_msg_id": "s", "body": "x"})
        _until(ws, "ack")
        ws.send_json({"type": "subscribe", "conversation_id": cid, "after_seq": 0})
        assert _until(ws, "message")["message"]["seq"] == 1
        assert _until(ws, "subscribed")["last_seq"] == 1


def test_the_sweep_reads_a_message_whose_fan_out_never_came(chat_client, person):
    """The app's sweep (its conversations' last seqs from PostgreSQL) against a message
    committed and never published: the first sweep notes its seq, the next finds the live
    subscriber still behind it and reads it."""
    from berth_chat.conversations import service

    alice = person()
    cid = start_conversation(chat_client, alice)["id"]
    sessionmaker = chat_client.app.state.db.sessionmaker
    actor = service.person(alice.id, frozenset({"user"}))

    async def committed_unannounced() -> None:
        async with sessionmaker() as session:
            await service.post(session, uuid.UUID(cid), actor, "quiet", "q1", 4096)
            await session.commit()

    with chat_client.websocket_connect(WS, headers=alice.headers) as ws:
        ws.send_json({"type": "subscribe", "conversation_id": cid, "after_seq": 0})
        _until(ws, "subscribed")
        chat_client.portal.call(committed_unannounced)
        chat_client.portal.call(chat_client.app.state.hub.sweep)
        chat_client.portal.call(chat_client.app.state.hub.sweep)
        got = _until(ws, "message")
        assert (got["message"]["seq"], got["message"]["body"]) == (1, "quiet")


def test_a_nul_byte_in_a_subject_is_a_422_and_saves_nothing(chat_client, person):
    """PostgreSQL text never holds NUL: the fuzzer's subject '\\x00\\x1cp' was a 500."""
    alice = person()
    r = chat_client.post(
        f"{API}/conversations", json={"subject": "\x00\x1cp"}, headers=alice.headers
    )
    assert r.status_code == 422, r.text
    assert r.json()["error"]["code"] == "invalid_text"
    listed = chat_client.get(f"{API}/conversations", headers=alice.headers)
    assert listed.status_code == 200 and listed.json() == [], listed.text


def test_a_message_frame_is_the_json_of_message_out():
    """The frames are built field by field (the hot path); the JSON is MessageOut's, for a
    post_plain MessageOut and an ORM Message, with and without microseconds or a sender."""
    from datetime import UTC, datetime, timedelta, timezone

    from berth_chat.conversations.schemas import MessageOut, message_frame
    from berth_chat.enums import MessageStatus, SenderKind
    from berth_chat.models import Message

    common = {"id": uuid.uuid4(), "conversation_id": uuid.uuid4(), "body": 'a "b"\n\u00e9'}
    made = [
        MessageOut(
            **common,
            seq=7,
            client_msg_id="m1",
            sender_kind=str(SenderKind.CUSTOMER),
            sender_id=uuid.uuid4(),
            status=str(MessageStatus.COMPLETE),
            created_at=datetime(2026, 11, 30, 23, 1, 2, 345678, UTC),
        ),
        Message(
            **common,
            seq=1,
            client_msg_id=None,
            sender_kind=SenderKind.SYSTEM,
            sender_id=None,
            status=MessageStatus.STREAMING,
            created_at=datetime(2026, 11, 30, 23, 1, 2, tzinfo=UTC),
        ),
        Message(
            **common,
            seq=2,
            client_msg_id="x",
            sender_kind="agent",
            sender_id=uuid.uuid4(),
            status="failed",
            created_at=datetime(2026, 1, 2, 3, 4, 5, 6, timezone(timedelta(hours=2))),
        ),
    ]
    for message in made:
        assert message_frame(message) == {
            "type": "message",
            "conversation_id": str(common["conversation_id"]),
            "message": MessageOut.model_validate(message).model_dump(mode="json"),
        }
