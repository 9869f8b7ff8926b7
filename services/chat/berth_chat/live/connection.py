"""One chat WebSocket's state: its outgoing queue and writer, why it closed, the per-user
message rate (berth_chat.live.ws runs the protocol over it)."""

import asyncio
import contextlib
import time
import uuid
from typing import Any

from fastapi import WebSocket
from limits import RateLimitItem, parse
from limits.aio.storage import Storage
from limits.aio.strategies import MovingWindowRateLimiter
from limits.storage import storage_from_string
from loguru import logger

from berth_chat.conversations import service
from berth_chat.live.hub import Frame, Subscription, encode
from berth_common.ratelimit import LocalMovingWindow, is_memory
from berth_common.security import Principal


class Close:
    """Close codes that say why the server closed."""

    GOING_AWAY = 1001  # the replica shuts down: reconnect (to another) and resume
    POLICY = 1008
    TRY_AGAIN = 1013  # the socket could not keep up with its messages: reconnect and resume
    UNAUTHENTICATED = 4401
    FORBIDDEN = 4403
    TIMEOUT = 4408
    TOO_BIG = 4413
    RATE_LIMITED = 4429


#: sends refused for the rate in a row before the socket is closed 4429
REFUSALS_BEFORE_CLOSE = 10
#: a socket's outgoing frames waiting to be written; beyond this it is too slow (1013)
SEND_QUEUE_MAX = 1000


class MessageLimiter:
    """Messages per user (all their sockets; all replicas when the storage is Redis)."""

    def __init__(self, storage_url: str, rate: str):
        self.item: RateLimitItem = parse(rate)
        self.local: LocalMovingWindow | None = None
        if is_memory(storage_url):
            self.local = LocalMovingWindow()
            return
        url = storage_url if storage_url.startswith("async+") else f"async+{storage_url}"
        storage = storage_from_string(url, wrap_exceptions=True)
        if not isinstance(storage, Storage):
            raise ValueError(f"not an asyncio rate-limit storage: {storage_url}")
        self.strategy = MovingWindowRateLimiter(storage)

    async def allow(self, user: str) -> bool:
        if self.local is not None:
            return self.local.hit(self.item, user) is None
        try:
            return await self.strategy.hit(self.item, "chat-message", user)
        except Exception:  # the counter's store is down: chat goes on unlimited, logged
            logger.warning("chat: rate-limit storage unavailable")
            return True


class Connection:
    def __init__(self, websocket: WebSocket, principal: Principal, actor: service.Actor):
        self.websocket = websocket
        self.principal = principal
        self.actor = actor
        self.queue: asyncio.Queue[dict | None] = asyncio.Queue(SEND_QUEUE_MAX)
        self.subscriptions: dict[uuid.UUID, Subscription] = {}
        self.close_code: int | None = None
        self.last_seen = time.monotonic()
        self.refused = 0  # sends refused by the rate limit in a row

    def send(self, frame: dict) -> None:
        try:
            self.queue.put_nowait(frame)
        except asyncio.QueueFull:
            self.close(Close.TRY_AGAIN)

    def close(self, code: int) -> None:
        if self.close_code is None:
            self.close_code = code
            with contextlib.suppress(asyncio.QueueFull):
                self.queue.put_nowait(None)

    async def writer(self) -> None:
        while True:
            frame = await self.queue.get()
            if frame is None:
                return
            # a message to many sockets was encoded once (hub.Frame)
            text = frame.text if isinstance(frame, Frame) else encode(frame)
            await self.websocket.send_text(text)


def error_frame(code: str, message: str, **extra: Any) -> dict:
    return {"type": "error", "code": code, "message": message, **extra}
