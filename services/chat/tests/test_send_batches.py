"""Group commit of a replica's socket sends (berth_chat.live.sends): concurrent sends share one
call of chat.post_plain, each still committed once with its conversation's next seq, in
arrival order per conversation; a batch that fails as a whole costs only the send that broke
it. In-process, real PostgreSQL (the app's own SendBatcher)."""

import asyncio
import json
import uuid

import pytest
from fixtures_chat import WS, start_conversation
from fixtures_chat import until as _until
from sqlalchemy import text

from berth_chat.conversations import service
from berth_chat.live.sends import SendBatcher
from berth_chat.models import BODY_MAX_CHARS
from berth_common.errors import BerthError


def _rows(chat_client, cids: list[str]) -> list[tuple]:
    async def read() -> list[tuple]:
        async with chat_client.app.state.db.sessionmaker() as session:
            rows = await session.execute(
                text(
                    "SELECT conversation_id::text, seq, client_msg_id, body FROM chat.messages"
                    " WHERE conversation_id = ANY(CAST(:c AS uuid[])) ORDER BY 1, 2"
                ),
                {"c": cids},
            )
            return [tuple(r) for r in rows]

    return chat_client.portal.call(read)


def _batcher(chat_client, max_chars: int = 4096) -> SendBatcher:
    app = chat_client.app
    return SendBatcher(
        app.state.db.sessionmaker, app.state.sends.autocommit_sessionmaker, max_chars
    )


def _post_all(chat_client, batcher: SendBatcher, sends: list[tuple]) -> list:
    """Every send at once (one task each, started in this order); a refusal is returned."""

    async def run() -> list:
        tasks = [asyncio.ensure_future(batcher.post(*s)) for s in sends]
        return await asyncio.gather(*tasks, return_exceptions=True)

    return chat_client.portal.call(run)


def test_concurrent_sends_share_a_call_and_keep_their_order_per_conversation(chat_client, person):
    alice, bob = person(), person()
    a = start_conversation(chat_client, alice)["id"]
    b = start_conversation(chat_client, bob)["id"]
    actor_a = service.person(alice.id, frozenset({"user"}))
    actor_b = service.person(bob.id, frozenset({"user"}))
    batcher = _batcher(chat_client)
    sends = []
    for n in range(40):  # two conversations interleaved, 40 sends each
        sends.append((uuid.UUID(a), actor_a, f"a{n}", f"a-{n}"))
        sends.append((uuid.UUID(b), actor_b, f"b{n}", f"b-{n}"))
    posted = _post_all(chat_client, batcher, sends)
    # fewer calls than sends: they were batched (the first alone, the rest together)
    assert batcher.batched_sends == 80
    assert batcher.batches < 10
    # each in arrival order within its conversation, seqs 1..40, each once
    assert [p.message.seq for p in posted[0::2]] == list(range(1, 41))
    assert [p.message.seq for p in posted[1::2]] == list(range(1, 41))
    assert not any(p.duplicate for p in posted)
    rows = _rows(chat_client, [a, b])
    assert [(r[1], r[3]) for r in rows if r[0] == a] == [(n + 1, f"a{n}") for n in range(40)]
    assert [(r[1], r[3]) for r in rows if r[0] == b] == [(n + 1, f"b{n}") for n in range(40)]


def test_a_retry_and_a_takeover_in_a_batch_go_the_full_path_and_the_rest_stay(
    chat_client, person, staff
):
    alice = person()
    cid = start_conversation(chat_client, alice)["id"]
    alice_actor = service.person(alice.id, frozenset({"user"}))
    staff_actor = service.person(staff.id, frozenset({"user", "support"}))
    c = uuid.UUID(cid)
    posted = _post_all(
        chat_client,
        _batcher(chat_client),
        [
            (c, alice_actor, "first", "k1"),
            (c, alice_actor, "first", "k1"),  # the same send again (a retry) in the same batch
            (c, staff_actor, "hello from support", "s1"),  # takes the conversation (bot→human)
            (c, alice_actor, "second", "k2"),
        ],
    )
    first, retry, support, second = posted
    assert (first.message.seq, first.duplicate) == (1, False)
    assert (retry.message.seq, retry.message.id, retry.duplicate) == (1, first.message.id, True)
    # the takeover notice and the staff message come from the full path, after the batch
    assert [m.seq for m in support.new] == [3, 4]
    assert second.message.seq == 2
    rows = _rows(chat_client, [cid])
    assert [(r[1], r[2]) for r in rows] == [(1, "k1"), (2, "k2"), (3, None), (4, "s1")]


def test_a_batch_with_a_send_postgresql_refuses_loses_and_doubles_none_of_the_others(
    chat_client, person
):
    """One send breaks the batch's one statement (a body past the column's check: a replica
    configured beyond what the table holds): nothing of the batch was kept, so each send goes
    alone; the bad one fails alone, every other one is kept exactly once."""
    people = [person() for _ in range(5)]
    cids = [start_conversation(chat_client, p)["id"] for p in people]
    actors = [service.person(p.id, frozenset({"user"})) for p in people]
    batcher = _batcher(chat_client, max_chars=BODY_MAX_CHARS + 10)
    sends = [
        (uuid.UUID(c), a, f"hello {n}", f"m{n}")
        for n, (c, a) in enumerate(zip(cids, actors, strict=True))
    ]
    too_long = (uuid.UUID(cids[2]), actors[2], "x" * (BODY_MAX_CHARS + 1), "bad")
    posted = _post_all(chat_client, batcher, [sends[0], too_long, *sends[1:]])
    # all six went to the batch call, in fewer calls than sends: the bad one shared a batch
    assert batcher.batched_sends == 6
    assert batcher.batches < 6
    assert isinstance(posted[1], Exception) and not isinstance(posted[1], BerthError)
    good = [p for i, p in enumerate(posted) if i != 1]
    assert [(p.message.seq, p.duplicate) for p in good] == [(1, False)] * 5
    rows = _rows(chat_client, cids)
    assert sorted((r[0], r[1], r[2]) for r in rows) == sorted(
        (c, 1, f"m{n}") for n, c in enumerate(cids)
    )


@pytest.mark.parametrize("body", ["", "   ", "\ud800 lone surrogate", "nul\x00"])
def test_a_bad_body_is_a_4xx_before_any_batch(chat_client, person, body):
    alice = person()
    cid = start_conversation(chat_client, alice)["id"]
    with chat_client.websocket_connect(WS, headers=alice.headers) as ws:
        # escaped as JSON on the wire (a lone surrogate cannot be UTF-8: "\\ud800" is how it comes)
        send = {"type": "send", "conversation_id": cid, "client_msg_id": "z", "body": body}
        ws.send_text(json.dumps(send))
        error = _until(ws, "error")
        assert (error["status"], error["client_msg_id"]) == (422, "z")
    assert _rows(chat_client, [cid]) == []
