"""Live delivery: every path where a live subscriber could miss a message for good (in-process:
a Subscription and a Hub with a stand-in backfill and exchange; no sockets, no broker)."""

import asyncio
import json
import uuid

import pytest

from berth_chat.live import hub as hub_module
from berth_chat.live.hub import Hub, Subscription

CID = uuid.uuid4()


def frame(seq: int) -> dict:
    return {
        "type": "message",
        "conversation_id": str(CID),
        "message": {"seq": seq, "body": f"m{seq}"},
    }


class Store:
    """What PostgreSQL holds: messages by seq; backfill reads seq > after, oldest first."""

    def __init__(self, page: int = 200):
        self.rows: dict[int, dict] = {}
        self.page = page
        self.reads = 0
        self.gate: asyncio.Event | None = None

    def add(self, seq: int) -> dict:
        self.rows[seq] = frame(seq)
        return self.rows[seq]

    async def backfill(self, cid: uuid.UUID, after: int) -> list[dict]:
        self.reads += 1
        found = [self.rows[s] for s in sorted(self.rows) if s > after][: self.page]
        if self.gate is not None:  # the query ran; its answer is on its way
            await self.gate.wait()
        return found


@pytest.fixture(autouse=True)
def quick_gap(monkeypatch):
    monkeypatch.setattr(hub_module, "GAP_WAIT_SECONDS", 0.01)


def live(store: Store, sent: list[int], last_seq: int = 0) -> Subscription:
    sub = Subscription(CID, lambda f: sent.append(f["message"]["seq"]), store.backfill)
    sub.start_live(last_seq)
    return sub


async def settle(rounds: int = 20) -> None:
    for _ in range(rounds):
        await asyncio.sleep(0.02)


async def test_a_gap_is_filled_from_the_database_in_order():
    store, sent = Store(), []
    sub = live(store, sent)
    for s in (1, 2, 3):
        store.add(s)
    sub.offer(store.rows[1])
    sub.offer(store.rows[3])  # 2 lost on the way
    await settle()
    assert sent == [1, 2, 3]


async def test_what_arrives_during_a_backfill_after_a_new_gap_is_not_stuck():
    """The backfill reads 2..4; meanwhile 6 arrives and 5 is lost on the way. The gap task
    that drains must see to the new gap itself: no later message may come to start one."""
    store, sent = Store(), []
    sub = live(store, sent)
    for s in range(1, 5):
        store.add(s)
    store.gate = asyncio.Event()
    sub.offer(store.rows[1])
    sub.offer(store.rows[3])
    await settle(3)  # the gap task read 2..4 (its answer held at the gate)
    assert store.reads == 1
    store.add(5)
    sub.offer(store.add(6))
    store.gate.set()
    await settle()
    assert sent == [1, 2, 3, 4, 5, 6]


async def test_a_backfill_answering_after_live_messages_sent_nothing_twice():
    """The backfill read 2..3; before it answered, 2 arrived live (2 and 3 went out) and 5
    arrived with 4 still on its way. The read's stale 2 and 3 must not be sent again (the
    lowest of them once made the subscription step back: 2 and 3 twice under load)."""
    store, sent = Store(), []
    sub = live(store, sent)
    for s in (1, 2, 3):
        store.add(s)
    store.gate = asyncio.Event()
    sub.offer(store.rows[1])
    sub.offer(store.rows[3])  # 2 is late: the gap task reads 2..3, its answer held
    await settle(3)
    assert store.reads == 1
    sub.offer(store.rows[2])
    store.add(4)
    sub.offer(store.add(5))
    assert sent == [1, 2, 3]
    store.gate.set()
    await settle()
    assert sent == [1, 2, 3, 4, 5]


async def test_a_message_committed_after_a_backfill_read_is_not_skipped():
    """A read that began before 2 was committed finds nothing; meanwhile 3 arrived (2 lost on
    the way). 2 is not a purged message: it is read next time, never skipped."""
    store, sent = Store(), []
    hub = Hub(None)
    sub = live(store, sent)
    hub.subscribe(sub)
    sub.offer(store.add(1))
    store.gate = asyncio.Event()
    hub.resync()  # reads after 1: nothing yet (its answer held)
    await settle(3)
    assert store.reads == 1
    store.add(2)  # committed now, lost on the way
    sub.offer(store.add(3))
    store.gate.set()
    await settle()
    assert sent == [1, 2, 3]


async def test_a_purged_message_is_stepped_over():
    """A seq below one the database has that the read does not find was deleted (retention):
    the subscription goes on past it."""
    store, sent = Store(), []
    sub = live(store, sent)
    for s in (1, 2, 3, 4):
        store.add(s)
    del store.rows[2]
    sub.offer(store.rows[1])
    sub.offer(store.rows[4])
    await settle()
    assert sent == [1, 3, 4]


async def test_a_backfill_failure_is_retried_and_the_gap_still_filled():
    store, sent = Store(), []
    failures = [RuntimeError("QueuePool limit reached")] * 3

    async def flaky(cid, after):
        if failures:
            raise failures.pop()
        return await store.backfill(cid, after)

    sub = Subscription(CID, lambda f: sent.append(f["message"]["seq"]), flaky)
    sub.start_live(0)
    for s in (1, 2, 3):
        store.add(s)
    sub.offer(store.rows[3])
    await settle(40)
    assert sent == [1, 2, 3]


async def test_a_resync_reads_what_the_fan_out_lost_at_the_tail():
    """The last message of a conversation lost on the way (a publish that failed, the
    broker's reconnect): no later message reveals the gap; a resync of the subscriptions
    (after the broker came back, or a publish failure) reads it."""
    store, sent = Store(), []
    hub = Hub(None)
    sub = live(store, sent)
    hub.subscribe(sub)
    store.add(1)
    sub.offer(store.rows[1])
    store.add(2)  # committed, its fan-out lost
    await settle(3)
    assert sent == [1]
    hub.resync()
    await settle()
    assert sent == [1, 2]


class FlakyExchange:
    """A stand-in for the fan-out exchange: the first `fail` publishes raise, each publish
    takes `delay` seconds."""

    def __init__(self, fail: int = 0, delay: float = 0.0):
        self.fail = fail
        self.delay = delay
        self.published: list[str] = []
        self.messages: list = []  # the broker messages (body and headers)

    async def publish(self, message, routing_key: str) -> None:
        await asyncio.sleep(self.delay)
        if self.fail:
            self.fail -= 1
            raise ConnectionError("channel closed")
        self.published.append(message.body.decode())
        self.messages.append(message)


async def test_a_failed_publish_is_tried_again():
    hub = Hub(None)
    hub._exchange = FlakyExchange(fail=2)
    hub.publish_retry_seconds = 0.01
    await hub.publish(frame(1))
    await settle()
    assert len(hub._exchange.published) == 1
    await hub.stop()


async def test_a_publish_is_not_lost_when_the_sender_goes_away():
    """The sender's socket closes right after its send committed: its handler is cancelled
    while publishing. The other replicas' subscribers must still get the message."""
    hub = Hub(None)
    hub._exchange = FlakyExchange(delay=0.05)
    task = asyncio.create_task(hub.publish(frame(1)))
    await asyncio.sleep(0.01)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await settle()
    assert len(hub._exchange.published) == 1
    await hub.stop()


async def test_frames_published_meanwhile_go_out_as_one_batch_in_order():
    """While one fan-out message is on its way, what the senders publish meanwhile waits and
    goes out as ONE broker message (a JSON list) in the order it was published."""
    hub = Hub(None)
    hub._exchange = FlakyExchange(delay=0.05)
    first = asyncio.create_task(hub.publish(frame(1)))
    await asyncio.sleep(0.01)  # 1 is on its way
    await asyncio.gather(first, *(hub.publish(frame(seq)) for seq in range(2, 6)))
    await settle()
    batches = [json.loads(body) for body in hub._exchange.published]
    assert [[f["message"]["seq"] for f in b] for b in batches] == [[1], [2, 3, 4, 5]]
    await hub.stop()


async def test_a_batch_from_another_replica_reaches_every_subscription():
    """A batch from a peer, and a single frame (the workers' outbox publishes one at a time):
    each frame goes to its conversation's subscriptions, once, in order."""
    store, sent = Store(), []
    hub = Hub(None)
    sub = live(store, sent)
    hub.subscribe(sub)

    class Incoming:
        def __init__(self, payload):
            self.body = json.dumps(payload).encode()
            self.headers = {"replica": "another"}

    await hub._on_message(Incoming([store.add(1), store.add(2)]))
    await hub._on_message(Incoming(store.add(3)))
    await hub._on_message(Incoming([store.rows[2], store.add(4)]))
    await settle()
    assert sent == [1, 2, 3, 4]


async def test_a_peer_sends_a_batch_s_frames_as_their_sender_encoded_them(monkeypatch):
    """A batch is one frame a line (still a JSON list for a replica of the previous version):
    the receiving replica sends each frame's text as it came, in order, not encoded again."""
    sender = Hub(None)
    sender._exchange = FlakyExchange(delay=0.05)
    first = asyncio.create_task(sender.publish(frame(1)))
    await asyncio.sleep(0.01)
    await asyncio.gather(first, *(sender.publish(frame(seq)) for seq in (2, 3)))
    await settle()
    assert [len(json.loads(body)) for body in sender._exchange.published] == [1, 2]
    receiver, texts = Hub(None), []
    sub = Subscription(CID, lambda f: texts.append(f.text), Store().backfill)
    sub.start_live(0)
    receiver.subscribe(sub)
    encoded = [hub_module.encode(frame(seq)) for seq in (1, 2, 3)]

    def encode_again(_frame: dict) -> str:
        raise AssertionError("a peer's frame encoded again")

    monkeypatch.setattr(hub_module, "encode", encode_again)
    for message in sender._exchange.messages:
        await receiver._on_message(message)
    assert texts == encoded
    await sender.stop()


async def test_the_broker_connection_coming_back_resyncs_every_subscription(broker_url):
    """The replica's fan-out queue (exclusive, auto-delete) was gone while its connection was
    down: what was published meanwhile never reached it. Once reconnected, every
    subscription reads what it missed (a real broker; the connection is broken under it)."""
    hub = Hub(broker_url, exchange=f"chat.test.{uuid.uuid4().hex[:8]}")
    await hub.start()
    try:
        store, sent = Store(), []
        sub = live(store, sent)
        hub.subscribe(sub)
        store.add(1)  # committed while the connection was down: its publish never arrived
        await hub._connection.transport.connection.close(ConnectionError("network drop"))
        for _ in range(200):
            if sent:
                break
            await asyncio.sleep(0.05)
        assert sent == [1]
    finally:
        await hub.stop()


async def test_a_sweep_reads_what_a_subscription_is_behind_on():
    """A fan-out message dropped for good (the replica's queue overflowed, a publish given
    up): the replica's periodic sweep compares each subscription with its conversation's last
    seq (one query); the ones still behind the seq the previous sweep saw read what they
    miss."""
    store, sent = Store(), []
    asked: list[list[uuid.UUID]] = []

    async def heads(ids: list[uuid.UUID]) -> dict[uuid.UUID, int]:
        asked.append(ids)
        return {CID: max(store.rows, default=0)}

    hub = Hub(None, heads=heads)
    sub = live(store, sent)
    hub.subscribe(sub)
    sub.offer(store.add(1))
    store.add(2)  # dropped on the way, and nothing follows it
    await settle(3)
    assert sent == [1]
    await hub.sweep()  # 2 may still be on its way: noted, not read
    await settle()
    assert (sent, store.reads) == ([1], 0)
    await hub.sweep()  # still behind what the previous sweep saw: lost, read
    await settle()
    assert sent == [1, 2]
    assert asked == [[CID], [CID]]
    await hub.sweep()  # nobody behind: no read
    await settle()
    assert store.reads == 1


async def test_a_sweep_leaves_alone_a_message_that_arrives_before_the_next_one():
    """A busy replica's fan-out lags: a message committed just before a sweep and delivered
    after it is not read from PostgreSQL (every lagging subscription reading the database at
    each sweep was load piled on a replica already behind)."""
    store, sent = Store(), []

    async def heads(ids: list[uuid.UUID]) -> dict[uuid.UUID, int]:
        return {CID: max(store.rows, default=0)}

    hub = Hub(None, heads=heads)
    sub = live(store, sent)
    hub.subscribe(sub)
    late = store.add(1)
    await hub.sweep()
    sub.offer(late)  # it arrives between two sweeps
    await hub.sweep()
    await settle(3)
    assert (sent, store.reads) == ([1], 0)
