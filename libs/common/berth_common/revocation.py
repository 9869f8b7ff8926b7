"""Revoked access: the denylist every token check consults, and how a process keeps it current.

Access tokens are JWTs checked offline, so revoking a session, a machine client or a user's
tokens has to reach every process that checks them (the gateway and each service). auth keeps
the truth in its database; each process holds a copy in memory:

- at start it subscribes to the event `auth.access.revoked` (an exclusive queue of its own,
  `<service>.revocations.<host>.<pid>.<random>`, bound to berth.events, so every replica gets
  every event; the broker users' rights allow exactly that, see berth_common.brokerdefs) and
  loads the whole current list from auth
  (`GET <AUTH_URL>/internal/revocations`, not routed by Traefik);
- each event merges into the copy within moments of auth's commit;
- the whole list is loaded again after the subscription (re)starts, every RESYNC_SECONDS, and
  every POLL_SECONDS while no subscription is live (broker down, or the filesystem dev broker),
  so a lost event or a restart costs seconds at most.

Merging only ever adds or extends entries (nothing is un-revoked), so an event seen twice, or
a list loaded while events arrive, does no harm. Each entry carries `until`: once no token it
could refuse can still be alive (revocation time + access-token lifetime), it is dropped.
Until the first load succeeds, token checks answer 503 (fail closed, as for missing keys).

Entries:
- sessions: refresh-family ids (access-token claim `sid`): the session's tokens are refused;
- clients: client ids (claim `client_id`): every token of the client is refused;
- users: user id -> not_before (epoch seconds): the user's tokens issued (`iat`) before it
  are refused (block, role change, password change or reset).
"""

import asyncio
import json
import os
import socket
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

import aio_pika
import httpx
from aio_pika.abc import AbstractIncomingMessage, AbstractRobustConnection
from aio_pika.connection import make_url
from loguru import logger
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from berth_common.errors import ServiceUnavailable, Unauthorized
from berth_common.messages import EVENTS_EXCHANGE

if TYPE_CHECKING:
    from berth_common.security import Principal

REVOKED_EVENT = "auth.access.revoked"
REVOCATIONS_PATH = "/internal/revocations"
RESYNC_SECONDS = 60.0
POLL_SECONDS = 2.0
FAILURE_LOG_INTERVAL = 60.0
CLOSE_SECONDS = 5.0  # a broker that does not answer Connection.Close must not hold up shutdown


class RevokedId(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    id: str = Field(min_length=1, max_length=128)
    until: int  # epoch seconds: no token this entry refuses is alive after it


class RevokedUser(RevokedId):
    not_before: int  # epoch seconds: the user's tokens with an earlier `iat` are refused


class Revocations(BaseModel):
    """A batch of revocations: an event's payload, or auth's whole current list."""

    model_config = ConfigDict(extra="ignore")

    sessions: list[RevokedId] = []
    clients: list[RevokedId] = []
    users: list[RevokedUser] = []

    def is_empty(self) -> bool:
        return not (self.sessions or self.clients or self.users)


class TokenRevoked(Unauthorized):
    def __init__(self) -> None:
        super().__init__("Access token has been revoked")


class Denylist:
    """The revocations a process knows of, checked on every token (three dict lookups)."""

    def __init__(self) -> None:
        self._sessions: dict[str, int] = {}
        self._clients: dict[str, int] = {}
        self._users: dict[str, tuple[int, int]] = {}  # id -> (not_before, until)
        self.loaded_at: float | None = None

    @property
    def loaded(self) -> bool:
        return self.loaded_at is not None

    def __len__(self) -> int:
        return len(self._sessions) + len(self._clients) + len(self._users)

    def merge(self, revocations: Revocations) -> None:
        for entry in revocations.sessions:
            self._sessions[entry.id] = max(entry.until, self._sessions.get(entry.id, 0))
        for entry in revocations.clients:
            self._clients[entry.id] = max(entry.until, self._clients.get(entry.id, 0))
        for user in revocations.users:
            before, until = self._users.get(user.id, (0, 0))
            self._users[user.id] = (max(before, user.not_before), max(until, user.until))

    def load(self, revocations: Revocations, now: float | None = None) -> None:
        """auth's whole current list: merged (an event that came meanwhile stays), then what
        has run out is dropped."""
        now = time.time() if now is None else now
        self.merge(revocations)
        self.prune(now)
        self.loaded_at = now

    def prune(self, now: float) -> None:
        for table in (self._sessions, self._clients):
            for key in [key for key, until in table.items() if until < now]:
                del table[key]
        for key in [key for key, (_, until) in self._users.items() if until < now]:
            del self._users[key]

    def check(self, principal: "Principal") -> None:
        """Raise TokenRevoked (401) for a revoked token, ServiceUnavailable before the list
        was ever loaded."""
        if self.loaded_at is None:
            raise ServiceUnavailable(
                "Token revocations are not loaded yet; retry shortly",
                headers={"Retry-After": "2"},
            )
        if principal.client_id in self._clients:
            raise TokenRevoked()
        if principal.session_id is not None and principal.session_id in self._sessions:
            raise TokenRevoked()
        user = self._users.get(principal.subject)
        if user is not None and principal.issued_at < user[0]:
            raise TokenRevoked()


Loader = Callable[[], Awaitable[Revocations]]


def http_loader(url: str) -> tuple[Loader, Callable[[], Awaitable[None]]]:
    """(load, close): auth's current list over HTTP."""
    client = httpx.AsyncClient(timeout=httpx.Timeout(5.0, connect=2.0))

    async def load() -> Revocations:
        response = await client.get(url)
        response.raise_for_status()
        return Revocations.model_validate(response.json())

    return load, client.aclose


def event_payload(body: bytes) -> dict[str, Any]:
    """The payload of a domain event as the outbox publishes it: a Celery protocol-2 task
    message `[args, {"event": {..., "payload": {...}}}, embed]`."""
    message = json.loads(body)
    return message[1]["event"]["payload"]


async def _close(connection: AbstractRobustConnection) -> None:
    """Close, waiting at most CLOSE_SECONDS: aio-pika's close waits for its reconnect task,
    which can sit out a whole reconnect interval, and for a broker that may not answer."""
    closing = asyncio.ensure_future(connection.close())
    done, _ = await asyncio.wait({closing}, timeout=CLOSE_SECONDS)
    if not done:
        logger.warning("token revocations: the broker connection did not close in time")


class RevocationFeed:
    """Keeps one process's Denylist current: events as they come, the whole list from auth at
    start, after every (re)subscription, every `resync_seconds`, and every `poll_seconds`
    while no subscription is live."""

    def __init__(
        self,
        denylist: Denylist,
        load: Loader,
        broker_url: str,
        *,
        name: str,
        close: Callable[[], Awaitable[None]] | None = None,
        resync_seconds: float = RESYNC_SECONDS,
        poll_seconds: float = POLL_SECONDS,
    ) -> None:
        self.denylist = denylist
        self.load = load
        self.broker_url = broker_url
        self.close_loader = close
        self.resync_seconds = resync_seconds
        self.poll_seconds = poll_seconds
        # exclusive to this process, named after its service (the broker user may use only
        # such queues); a fixed name, so a reconnect declares it again as is
        host = socket.gethostname()[:40]
        self.queue_name = f"{name}.revocations.{host}.{os.getpid()}.{uuid.uuid4().hex[:8]}"
        self.live = False
        self._wake = asyncio.Event()
        self._stopping = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._connection: AbstractRobustConnection | None = None
        self._last_failure_log = -FAILURE_LOG_INTERVAL

    @property
    def subscribes(self) -> bool:
        return self.broker_url.startswith(("amqp://", "amqps://", "pyamqp://"))

    async def start(self) -> None:
        """One load before the process answers (so it starts ready when auth is up), then
        the feed runs in the background, retrying what failed."""
        self._stopping.clear()  # a feed stopped before (one app, two lifespans) runs again
        try:
            await self.reload()
        except Exception as exc:
            self._log_failure("first load", exc)
        self._tasks = [asyncio.create_task(self._reload_forever(), name="revocations-reload")]
        if self.subscribes:
            self._tasks.append(
                asyncio.create_task(self._subscribe_forever(), name="revocations-subscribe")
            )
        else:
            logger.warning(
                "no RabbitMQ: token revocations are polled from auth every {} s", self.poll_seconds
            )

    async def stop(self) -> None:
        # the subscribe loop also ends on this: aio-pika can swallow the cancellation of an
        # attempt it is closing, and the loop would then retry, with backoff, forever
        self._stopping.set()
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            try:
                await task
            except asyncio.CancelledError:
                pass
        self._tasks = []
        if self._connection is not None:
            connection, self._connection = self._connection, None
            await _close(connection)
        if self.close_loader is not None:
            await self.close_loader()

    async def reload(self) -> None:
        self.denylist.load(await self.load())

    async def _reload_forever(self) -> None:
        while True:
            interval = self.resync_seconds
            if not self.live or not self.denylist.loaded:
                interval = self.poll_seconds
            try:
                await asyncio.wait_for(self._wake.wait(), timeout=interval)
            except TimeoutError:
                pass
            self._wake.clear()  # before loading: a wake-up during the load is not lost
            try:
                await self.reload()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # auth down or restarting: keep what we have, retry soon
                self._log_failure("load", exc)

    async def _subscribe_forever(self) -> None:
        delay = 1.0
        while self._connection is None and not self._stopping.is_set():
            try:
                await self._subscribe()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self._log_failure("subscribe", exc)
                await self._pause(delay)
                delay = min(delay * 2, 30.0)

    async def _pause(self, seconds: float) -> None:
        """Wait `seconds` before the next attempt, or less if the feed is stopping."""
        try:
            await asyncio.wait_for(self._stopping.wait(), timeout=seconds)
        except TimeoutError:
            pass

    async def _subscribe(self) -> None:
        # made before connecting, so that an attempt cancelled mid-connect is closed below
        # rather than left reconnecting in the background for the life of the process
        connection = aio_pika.RobustConnection(
            make_url(self.broker_url.replace("pyamqp://", "amqp://"))
        )
        try:
            await connection.connect(timeout=5)
            channel = await connection.channel()
            # passive: the exchange is the publishers' (auth's) to declare, and the gateway's and
            # frontend's broker users may not; until it exists, polling covers
            exchange = await channel.get_exchange(EVENTS_EXCHANGE, ensure=True)
            queue = await channel.declare_queue(
                self.queue_name, exclusive=True, auto_delete=True, durable=False
            )
            await queue.bind(exchange, routing_key=REVOKED_EVENT)
            await queue.consume(self._on_message, no_ack=True)
        except BaseException:
            await _close(connection)
            raise
        connection.close_callbacks.add(self._on_close)
        connection.reconnect_callbacks.add(self._on_reconnect)
        self._connection = connection
        self._went_live()

    def _went_live(self) -> None:
        # events flow from here on; load the whole list once more so nothing falls between
        self.live = True
        self._wake.set()

    def _on_reconnect(self, *_: Any) -> None:
        logger.info("token revocations: subscription restored")
        self._went_live()

    def _on_close(self, *_: Any) -> None:
        if self.live:
            logger.warning("token revocations: broker connection lost, polling auth meanwhile")
        self.live = False
        self._wake.set()

    async def _on_message(self, message: AbstractIncomingMessage) -> None:
        try:
            revocations = Revocations.model_validate(event_payload(message.body))
        except (ValueError, KeyError, IndexError, TypeError, ValidationError) as exc:
            logger.warning("token revocations: unreadable event ignored ({})", type(exc).__name__)
            return
        self.denylist.merge(revocations)

    def _log_failure(self, what: str, exc: BaseException) -> None:
        now = time.monotonic()
        if now - self._last_failure_log >= FAILURE_LOG_INTERVAL:
            self._last_failure_log = now
            state = "kept" if self.denylist.loaded else "NOT loaded yet: tokens answer 503"
            logger.warning(
                "token revocations: {} failed ({}); list {}", what, type(exc).__name__, state
            )
