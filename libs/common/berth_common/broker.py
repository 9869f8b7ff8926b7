"""Publishing from inside an event loop: aio-pika with publisher confirms on RabbitMQ,
kombu in a worker thread for the filesystem fallback (a first-look dev mode only)."""

import asyncio
from pathlib import Path
from typing import Any

import aio_pika
from aio_pika.abc import AbstractExchange, AbstractRobustConnection
from loguru import logger

from berth_common.messages import EVENTS_EXCHANGE, OutgoingMessage

QUORUM = {"x-queue-type": "quorum"}


def filesystem_transport_options(directory: str) -> dict[str, Any]:
    base = Path(directory).resolve()
    for sub in ("queue", "processed", "control"):
        (base / sub).mkdir(parents=True, exist_ok=True)
    return {
        "control_folder": str(base / "control"),
        "data_folder_in": str(base / "queue"),
        "data_folder_out": str(base / "queue"),
        "processed_folder": str(base / "processed"),
        "store_processed": False,
    }


def is_family_queue(name: str, prefixes: tuple[str, ...]) -> bool:
    return any(name.startswith(p) and len(name) > len(p) for p in prefixes)


class AmqpPublisher:
    """One robust connection and one confirming channel per process."""

    def __init__(
        self, url: str, service_queues: tuple[str, ...] = (), queue_prefixes: tuple[str, ...] = ()
    ):
        self.url = url
        self.service_queues = service_queues
        self.queue_prefixes = queue_prefixes
        self._conn: AbstractRobustConnection | None = None
        self._channel: aio_pika.abc.AbstractChannel | None = None
        self._exchanges: dict[str, AbstractExchange] = {}
        self._lock = asyncio.Lock()

    @property
    def reachable(self) -> bool:
        """False while the robust connection is down and reconnecting: a publish now would
        wait for the broker (up to its timeout). Never tried yet: true (try it)."""
        return self._conn is None or (not self._conn.is_closed and self._conn.connected.is_set())

    async def _ready(self) -> aio_pika.abc.AbstractChannel:
        if self._channel is not None and not self._channel.is_closed:
            return self._channel
        async with self._lock:
            if self._channel is None or self._channel.is_closed:
                if self._conn is None or self._conn.is_closed:
                    self._conn = await aio_pika.connect_robust(self.url, timeout=5)
                self._channel = await self._conn.channel(publisher_confirms=True)
                self._exchanges = {}
                await self._declare_topology(self._channel)
        return self._channel

    async def _declare_topology(self, channel: aio_pika.abc.AbstractChannel) -> None:
        # Same declarations as the Celery workers make, so a message published before a
        # worker ever started is routed and kept, not dropped.
        events = await channel.declare_exchange(
            EVENTS_EXCHANGE, aio_pika.ExchangeType.TOPIC, durable=True
        )
        self._exchanges[EVENTS_EXCHANGE] = events
        for name in self.service_queues:
            await self._declare_queue(channel, name)

    async def _declare_queue(self, channel: aio_pika.abc.AbstractChannel, name: str) -> None:
        exchange = await channel.declare_exchange(name, aio_pika.ExchangeType.TOPIC, durable=True)
        queue = await channel.declare_queue(name, durable=True, arguments=QUORUM)
        await queue.bind(exchange, routing_key=name)
        self._exchanges[name] = exchange

    async def _exchange(self, name: str) -> AbstractExchange:
        channel = await self._ready()
        if name not in self._exchanges:
            if is_family_queue(name, self.queue_prefixes):
                await self._declare_queue(channel, name)
            else:
                self._exchanges[name] = await channel.declare_exchange(
                    name, aio_pika.ExchangeType.TOPIC, durable=True
                )
        return self._exchanges[name]

    async def publish(self, message: OutgoingMessage) -> None:
        exchange = await self._exchange(message.exchange)
        await exchange.publish(
            aio_pika.Message(
                body=message.body.encode(),
                headers=message.headers,
                content_type="application/json",
                content_encoding="utf-8",
                delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
                message_id=message.id,
                correlation_id=message.properties.get("correlation_id", message.id),
            ),
            routing_key=message.routing_key,
            mandatory=message.mandatory,
            timeout=10,
        )

    async def ping(self) -> None:
        await self._ready()

    async def close(self) -> None:
        if self._conn is not None:
            await self._conn.close()
        self._conn = self._channel = None


class KombuPublisher:
    """Filesystem fallback: kombu is synchronous, so it runs in a thread."""

    def __init__(
        self,
        url: str,
        directory: str,
        service_queues: tuple[str, ...] = (),
        queue_prefixes: tuple[str, ...] = (),
    ):
        from kombu import Connection

        self.conn = Connection(url, transport_options=filesystem_transport_options(directory))
        self.service_queues = service_queues
        self.queue_prefixes = queue_prefixes

    def _publish_sync(self, message: OutgoingMessage) -> None:
        from kombu import Exchange, Queue

        exchange = Exchange(message.exchange, type="topic", durable=True)
        declare = [exchange]
        if message.exchange in self.service_queues or is_family_queue(
            message.exchange, self.queue_prefixes
        ):
            declare.append(Queue(message.exchange, exchange, routing_key=message.routing_key))
        with self.conn.Producer() as producer:
            producer.publish(
                message.body,
                exchange=exchange,
                routing_key=message.routing_key,
                headers=message.headers,
                content_type="application/json",
                content_encoding="utf-8",
                serializer=None,
                declare=declare,
                correlation_id=message.id,
                delivery_mode=2,
            )

    async def publish(self, message: OutgoingMessage) -> None:
        await asyncio.to_thread(self._publish_sync, message)

    async def ping(self) -> None:
        await asyncio.to_thread(self.conn.ensure_connection, max_retries=1)

    async def close(self) -> None:
        await asyncio.to_thread(self.conn.release)


def make_publisher(
    broker_url: str,
    filesystem_dir: str,
    service_queues: tuple[str, ...] = (),
    queue_prefixes: tuple[str, ...] = (),
) -> AmqpPublisher | KombuPublisher:
    """`queue_prefixes`: task queues made at run time (a node's own queue): an exchange
    named with one of them gets its queue declared too, before the first message is sent."""
    if broker_url.startswith(("amqp://", "amqps://", "pyamqp://")):
        return AmqpPublisher(
            broker_url.replace("pyamqp://", "amqp://"), service_queues, queue_prefixes
        )
    logger.warning("broker {} is not RabbitMQ: publishing through kombu (dev fallback)", broker_url)
    return KombuPublisher(broker_url, filesystem_dir, service_queues, queue_prefixes)
