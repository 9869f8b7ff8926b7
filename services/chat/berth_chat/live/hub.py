"""Live delivery: this replica's sockets by conversation, and the fan-out between replicas.

Every message is persisted first (PostgreSQL holds the truth), then published on the topic
exchange `chat.fanout`: a replica's frames in batches (one broker message, a JSON list, holds
every frame queued while the previous batch was on its way; routing key `batch`), the
workers' one by one (routing key: the conversation id). Each web replica binds its own
exclusive auto-delete queue to it (`#`) and hands what arrives to its local subscriptions. A
replica delivers its own messages locally at once and ignores their echo (header `replica`).
A frame is JSON-encoded once, whatever the number of sockets and replicas it goes to (a
batch holds one frame a line: a receiving replica sends each line's text as it came).

A subscription sends messages strictly in seq order, each once: a message ahead of the next
expected seq (publishes of two replicas can cross) waits, and if the gap is not filled soon it
is filled from PostgreSQL. A replica that missed fan-out messages (it restarted) is covered by
the client's resume from its last seq.
"""

import asyncio
import contextlib
import json
import os
import secrets
import socket
import uuid
from collections import defaultdict
from collections.abc import Awaitable, Callable
from typing import Any

import aio_pika
from aio_pika.abc import AbstractIncomingMessage
from loguru import logger

from berth_chat.names import FANOUT_EXCHANGE, FANOUT_QUEUE_PREFIX

#: a subscription waits this long for a missing seq before reading it from PostgreSQL
GAP_WAIT_SECONDS = 0.5
#: a fan-out publish that failed is tried again for this long (the broker comes back)
PUBLISH_RETRY_SECONDS = 60.0
#: a sender waits this long for its fan-out publish (then it goes on in the background)
PUBLISH_WAIT_SECONDS = 2.0
#: at most this many frames in one fan-out message (a batch)
PUBLISH_BATCH_MAX = 500
#: the routing key of a batch (every replica's queue is bound to `#`)
BATCH_ROUTING_KEY = "batch"
#: a batch whose frames are one a line (still a JSON list): the receiver keeps each frame's
#: text as it came and sends it on verbatim (an encoded frame holds no raw newline)
LINES_HEADER = "lines"

#: every this many seconds a replica compares its subscriptions with the conversations' last
#: seqs (one query): a subscription still behind a seq the previous sweep saw (a message whose
#: fan-out was lost for good, not one on its way) reads it from PostgreSQL
SWEEP_SECONDS = 10.0


class Frame(dict):
    """A frame with its JSON text made once: a message to many sockets (and to the other
    replicas) is encoded one time, not once per recipient."""

    __slots__ = ("text",)

    def __init__(self, frame: dict, text: str | None = None):
        super().__init__(frame)
        self.text = text if text is not None else encode(frame)


def encode(frame: dict) -> str:
    return json.dumps(frame, separators=(",", ":"), default=str)


Backfill = Callable[[uuid.UUID, int], Awaitable[list[dict[str, Any]]]]
Heads = Callable[[list[uuid.UUID]], Awaitable[dict[uuid.UUID, int]]]


class Subscription:
    """One socket's view of one conversation: what it was sent up to (`last_seq`)."""

    def __init__(
        self,
        conversation_id: uuid.UUID,
        send: Callable[[dict], None],
        backfill: Backfill,
        owner: Any = None,
    ):
        self.conversation_id = conversation_id
        self.owner = owner
        self.send = send
        self.backfill = backfill
        self.last_seq = 0
        self.replaying = True
        self.pending: dict[int, dict] = {}
        self._resync = False  # read from PostgreSQL even with nothing pending (catch_up)
        self._gap_task: asyncio.Task | None = None

    def start_live(self, last_seq: int) -> None:
        """The replay sent everything up to last_seq: send what came meanwhile, in order."""
        self.last_seq = max(self.last_seq, last_seq)
        self.replaying = False
        self._drain()

    def offer(self, frame: dict) -> None:
        seq = frame["message"]["seq"]
        if seq == self.last_seq + 1 and not self.pending and not self.replaying:
            # the common case, the next one with nothing waiting: straight out
            self.last_seq = seq
            self.send(frame if frame.get("type") == "message" else {**frame, "type": "message"})
            return
        if seq <= self.last_seq:
            # an update of a message already sent (an agent's streamed answer) goes through
            if frame.get("type") == "message_update":
                self.send(frame)
            return
        if frame.get("type") == "message_update":
            frame = {**frame, "type": "message"}
        self.pending[seq] = frame
        if not self.replaying:
            self._drain()

    def sent_replay(self, frame: dict) -> None:
        seq = frame["message"]["seq"]
        if seq > self.last_seq:
            self.send(frame)
            self.last_seq = seq

    def catch_up(self) -> None:
        """Read what came after last_seq from PostgreSQL even with no gap in sight: the fan-out
        may have lost the conversation's last messages (a failed publish, the broker's
        reconnect), and no later message would reveal them."""
        self._resync = True
        if not self.replaying:
            self._schedule()

    def _drain(self) -> None:
        for seq in sorted(s for s in self.pending if s <= self.last_seq):
            self.pending.pop(seq)
        while self.last_seq + 1 in self.pending:
            self.last_seq += 1
            self.send(self.pending.pop(self.last_seq))
        if self.pending:
            self._schedule()

    def _schedule(self) -> None:
        # one gap task at a time; it loops while a gap (or a resync) is left, so what it
        # leaves behind (a new gap found while it read) is never stuck waiting for a message
        if self._gap_task is None or self._gap_task.done():
            self._gap_task = asyncio.get_running_loop().create_task(self._fill_gap())

    async def _fill_gap(self) -> None:
        while not self.replaying and (self.pending or self._resync):
            await asyncio.sleep(GAP_WAIT_SECONDS)
            if self.replaying or not (self.pending or self._resync):
                return
            resync = self._resync
            self._resync = False
            # every pending message was committed before this read starts, and so was every
            # seq below it (seqs are handed out under the conversation's row lock)
            known = max(self.pending, default=0)
            try:
                frames = await self.backfill(self.conversation_id, self.last_seq)
            except Exception:  # the database is busy or away: try again, never stall
                self._resync = self._resync or resync
                logger.exception("chat: backfill of a gap failed; retrying")
                continue
            # live messages went out while it read: only what is still ahead counts (a frame
            # at or below last_seq again would be sent twice)
            for frame in frames:
                seq = frame["message"]["seq"]
                if seq > self.last_seq:
                    self.pending.setdefault(seq, frame)
            self._drain()
            # a seq below one the read saw, or below one known before it began, that the read
            # did not find does not exist (a purged message): go on from the next one. A seq
            # above both may simply have been committed after the read: the loop reads again.
            upto = max(known, frames[-1]["message"]["seq"] if frames else 0)
            while self.pending and min(self.pending) <= upto:
                self.last_seq = min(self.pending) - 1
                self._drain()

    def cancel(self) -> None:
        if self._gap_task is not None:
            self._gap_task.cancel()


class Hub:
    def __init__(
        self, broker_url: str | None, exchange: str = FANOUT_EXCHANGE, heads: Heads | None = None
    ):
        self.broker_url = broker_url
        self.heads = heads
        self._sweeper: asyncio.Task | None = None
        #: the conversations' last seqs at the previous sweep
        self._swept_heads: dict[uuid.UUID, int] = {}
        self.exchange_name = exchange
        self.replica = f"{socket.gethostname()}.{os.getpid()}.{secrets.token_hex(4)}"
        self.subscriptions: dict[uuid.UUID, set[Subscription]] = defaultdict(set)
        self.connections: set[Any] = set()
        self._connection: aio_pika.abc.AbstractRobustConnection | None = None
        self._exchange: Any = None
        #: publishes under way: a sender's handler cancelled mid-publish does not cancel them
        self._publishing: set[asyncio.Task] = set()
        #: frames waiting for the next fan-out batch, each with its sender's wait
        self._outgoing: list[tuple[Frame, asyncio.Future]] = []
        self._batcher: asyncio.Task | None = None
        self.publish_retry_seconds = 1.0  # the first pause before a failed publish is retried

    async def start(self) -> None:
        if not self.broker_url:
            return
        self._connection = await aio_pika.connect_robust(self.broker_url, timeout=10)
        # the queue was gone while the connection was down (exclusive, auto-delete): what was
        # published meanwhile never reached it; every subscription reads what it missed
        self._connection.reconnect_callbacks.add(lambda _connection: self.resync())
        channel = await self._connection.channel()
        await channel.set_qos(prefetch_count=500)
        self._exchange = await channel.declare_exchange(
            self.exchange_name, aio_pika.ExchangeType.TOPIC, durable=True
        )
        queue = await channel.declare_queue(
            f"{FANOUT_QUEUE_PREFIX}{self.replica}",
            exclusive=True,
            auto_delete=True,
            arguments={"x-max-length": 100_000, "x-overflow": "drop-head"},
        )
        await queue.bind(self._exchange, routing_key="#")
        await queue.consume(self._on_message, no_ack=True)
        if self.heads is not None:
            self._sweeper = asyncio.get_running_loop().create_task(self._sweep_forever())

    async def sweep(self) -> None:
        """Subscriptions still behind the last seq their conversation had at the previous
        sweep read what they miss: the net under every fan-out loss (the queue's overflow, a
        publish given up, a channel that came back without the connection's reconnect). A
        message committed since the previous sweep may still be on its way (a busy replica's
        fan-out lags): reading it from PostgreSQL for every such subscription would only add
        load where there is too much already; the next sweep reads it if it never came."""
        if self.heads is None or not self.subscriptions:
            self._swept_heads = {}
            return
        before = self._swept_heads
        heads = await self.heads(list(self.subscriptions))
        self._swept_heads = heads
        for cid, subs in list(self.subscriptions.items()):
            for sub in list(subs):
                if before.get(cid, 0) > sub.last_seq and not sub.replaying:
                    sub.catch_up()

    async def _sweep_forever(self) -> None:
        while True:
            await asyncio.sleep(SWEEP_SECONDS)
            try:
                await self.sweep()
            except Exception:  # the database is busy or away: the next sweep
                logger.exception("chat: subscription sweep failed")

    async def stop(self) -> None:
        if self._sweeper is not None:
            self._sweeper.cancel()
        if self._publishing:
            await asyncio.wait(set(self._publishing), timeout=5)
        for task in list(self._publishing):
            task.cancel()
        if self._connection is not None:
            with contextlib.suppress(Exception):
                await self._connection.close()
            self._connection = None

    async def ping(self) -> None:
        if self.broker_url and (self._connection is None or self._connection.is_closed):
            raise ConnectionError("chat fan-out: not connected to the broker")

    def subscribe(self, sub: Subscription) -> None:
        self.subscriptions[sub.conversation_id].add(sub)

    def unsubscribe(self, sub: Subscription) -> None:
        subs = self.subscriptions.get(sub.conversation_id)
        if subs is not None:
            subs.discard(sub)
            if not subs:
                self.subscriptions.pop(sub.conversation_id, None)
        sub.cancel()

    def resync(self) -> None:
        """Every local subscription reads what came after its last seq from PostgreSQL."""
        for subs in list(self.subscriptions.values()):
            for sub in list(subs):
                sub.catch_up()

    def deliver_local(self, frame: dict, skip: Any = None) -> None:
        if not isinstance(frame, Frame):
            frame = Frame(frame)
        conversation_id = uuid.UUID(frame["conversation_id"])
        for sub in list(self.subscriptions.get(conversation_id, ())):
            if skip is not None and sub.owner is skip:
                continue
            if "message" in frame:
                sub.offer(frame)
            else:
                sub.send(frame)

    async def publish(self, frame: dict, skip: Any = None) -> None:
        """Deliver to this replica's sockets now, and to the other replicas'. The frame joins
        the next fan-out batch; one task publishes the batches in order, so a sender's
        handler cancelled meanwhile (its socket closed right after the commit) does not take
        the other replicas' copy with it."""
        frame = Frame(frame)
        self.deliver_local(frame, skip)
        if self._exchange is None:
            return
        loop = asyncio.get_running_loop()
        published = loop.create_future()
        self._outgoing.append((frame, published))
        if self._batcher is None or self._batcher.done():
            self._batcher = loop.create_task(self._publish_batches())
            self._publishing.add(self._batcher)
            self._batcher.add_done_callback(self._publishing.discard)
        # the sender waits for its publish (back-pressure) but not for the retries of a
        # broker that is away; a cancelled wait leaves the batch going
        await asyncio.wait({published}, timeout=PUBLISH_WAIT_SECONDS)

    async def _publish_batches(self) -> None:
        """Every frame queued while the previous batch was on its way goes out as ONE broker
        message (a JSON list): a channel publishes one message at a time (aiormq holds its
        lock until the frame is written), so one message per frame capped the fan-out at a
        few hundred frames a second on a busy event loop."""
        while self._outgoing:
            batch = self._outgoing[:PUBLISH_BATCH_MAX]
            del self._outgoing[: len(batch)]
            body = "[" + ",\n".join(frame.text for frame, _ in batch) + "]"
            try:
                await self._publish(body.encode())
            finally:
                for _, published in batch:
                    if not published.done():
                        published.set_result(None)

    async def _publish(self, body: bytes) -> None:
        loop = asyncio.get_running_loop()
        give_up = loop.time() + PUBLISH_RETRY_SECONDS
        pause = self.publish_retry_seconds
        while True:
            try:
                await self._exchange.publish(
                    aio_pika.Message(
                        body=body,
                        content_type="application/json",
                        headers={"replica": self.replica, LINES_HEADER: True},
                        delivery_mode=aio_pika.DeliveryMode.NOT_PERSISTENT,
                    ),
                    routing_key=BATCH_ROUTING_KEY,
                )
                return
            except Exception:
                # persisted already: tried again while the broker comes back (the other
                # replicas' subscriptions fill the gap it leaves, in order); past that, their
                # resync after their own reconnect, or their clients' resume, reads it
                if loop.time() + pause > give_up:
                    logger.exception("chat: fan-out publish failed; giving up")
                    return
                logger.warning("chat: fan-out publish failed; trying again")
                await asyncio.sleep(pause)
                pause = min(pause * 2, 10.0)

    async def _on_message(self, message: AbstractIncomingMessage) -> None:
        """A batch of this replica's peers (a JSON list), or one frame (a dict: the workers'
        outbox publishes agents' messages one by one, routing key the conversation)."""
        headers = message.headers or {}
        if headers.get("replica") == self.replica:
            return
        try:
            text = message.body.decode()
            if headers.get(LINES_HEADER) and text.startswith("["):
                # each line's text as the sender encoded it: parsed for the routing, not
                # encoded again
                lines = text[1:-1].split(",\n")
                for line, frame in [(line, json.loads(line)) for line in lines]:
                    if isinstance(frame, dict):
                        self.deliver_local(Frame(frame, line))
                return
            payload = json.loads(text)
        except ValueError:
            return
        if isinstance(payload, dict):
            self.deliver_local(Frame(payload, text))
            return
        if isinstance(payload, list):
            for frame in payload:
                if isinstance(frame, dict):
                    self.deliver_local(Frame(frame))
