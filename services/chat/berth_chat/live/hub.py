"""Live delivery: this replica's sockets by conversation, and the fan-out between replicas.

Every message is persisted first (PostgreSQL holds the truth), then published on the topic
exchange `chat.fanout` (routing key: the conversation id). Each web replica binds its own
exclusive auto-delete queue to it and hands what arrives to its local subscriptions. A replica
delivers its own messages locally at once and ignores their echo (header `replica`).

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

Backfill = Callable[[uuid.UUID, int], Awaitable[list[dict[str, Any]]]]


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
        self._gap_task: asyncio.Task | None = None

    def start_live(self, last_seq: int) -> None:
        """The replay sent everything up to last_seq: send what came meanwhile, in order."""
        self.last_seq = max(self.last_seq, last_seq)
        self.replaying = False
        self._drain()

    def offer(self, frame: dict) -> None:
        seq = frame["message"]["seq"]
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

    def _drain(self) -> None:
        for seq in sorted(s for s in self.pending if s <= self.last_seq):
            self.pending.pop(seq)
        while self.last_seq + 1 in self.pending:
            self.last_seq += 1
            self.send(self.pending.pop(self.last_seq))
        if self.pending and (self._gap_task is None or self._gap_task.done()):
            self._gap_task = asyncio.get_running_loop().create_task(self._fill_gap())

    async def _fill_gap(self) -> None:
        await asyncio.sleep(GAP_WAIT_SECONDS)
        if not self.pending or self.replaying:
            return
        try:
            frames = await self.backfill(self.conversation_id, self.last_seq)
        except Exception:  # the next message or the client's resume fills it
            logger.exception("chat: backfill of a gap failed")
            return
        for frame in frames:
            self.pending.setdefault(frame["message"]["seq"], frame)
        # what is still missing after reading the database does not exist (a rolled back
        # transaction never took a seq): go on from the lowest pending
        if self.pending and self.last_seq + 1 not in self.pending:
            self.last_seq = min(self.pending) - 1
        self._drain()

    def cancel(self) -> None:
        if self._gap_task is not None:
            self._gap_task.cancel()


class Hub:
    def __init__(self, broker_url: str | None, exchange: str = FANOUT_EXCHANGE):
        self.broker_url = broker_url
        self.exchange_name = exchange
        self.replica = f"{socket.gethostname()}.{os.getpid()}.{secrets.token_hex(4)}"
        self.subscriptions: dict[uuid.UUID, set[Subscription]] = defaultdict(set)
        self.connections: set[Any] = set()
        self._connection: aio_pika.abc.AbstractRobustConnection | None = None
        self._exchange: aio_pika.abc.AbstractExchange | None = None

    async def start(self) -> None:
        if not self.broker_url:
            return
        self._connection = await aio_pika.connect_robust(self.broker_url, timeout=10)
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

    async def stop(self) -> None:
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

    def deliver_local(self, frame: dict, skip: Any = None) -> None:
        conversation_id = uuid.UUID(frame["conversation_id"])
        for sub in list(self.subscriptions.get(conversation_id, ())):
            if skip is not None and sub.owner is skip:
                continue
            if "message" in frame:
                sub.offer(frame)
            else:
                sub.send(frame)

    async def publish(self, frame: dict, skip: Any = None) -> None:
        """Deliver to this replica's sockets now, and to the other replicas'."""
        self.deliver_local(frame, skip)
        if self._exchange is None:
            return
        try:
            await self._exchange.publish(
                aio_pika.Message(
                    body=json.dumps(frame, separators=(",", ":")).encode(),
                    content_type="application/json",
                    headers={"replica": self.replica},
                    delivery_mode=aio_pika.DeliveryMode.NOT_PERSISTENT,
                ),
                routing_key=frame["conversation_id"],
            )
        except Exception:  # persisted already: the other replicas' clients get it on resume
            logger.exception("chat: fan-out publish failed")

    async def _on_message(self, message: AbstractIncomingMessage) -> None:
        if (message.headers or {}).get("replica") == self.replica:
            return
        try:
            frame = json.loads(message.body)
        except ValueError:
            return
        self.deliver_local(frame)
