"""The chat WebSocket: /api/chat/v1/ws (protocol in README.md, "Chat").

The handshake is checked before anything else: a browser's `Origin` must be one of the
platform's origins (else the upgrade is refused, HTTP 403, before accept: no cross-site
hijacking); the token comes from `Authorization: Bearer` or the access cookie, and a request
without Origin (not a browser) must use a bearer token. Then JSON frames both ways.
"""

import asyncio
import contextlib
import json
import time
import uuid
from typing import Any

from fastapi import WebSocket
from loguru import logger
from starlette.websockets import WebSocketDisconnect, WebSocketState

from berth_chat.config import ChatSettings
from berth_chat.conversations import service
from berth_chat.conversations.schemas import message_frame
from berth_chat.live.connection import (
    REFUSALS_BEFORE_CLOSE,
    Close,
    Connection,
    MessageLimiter,
    error_frame,
)
from berth_chat.live.hub import Hub, Subscription
from berth_chat.live.sends import SendBatcher
from berth_common.errors import BerthError
from berth_common.routing import public_router
from berth_common.security import TokenVerifier, user_id_of

WS_PATH = "/api/chat/v1/ws"


def _origin_allowed(websocket: WebSocket, settings: ChatSettings) -> bool:
    origin = websocket.headers.get("origin")
    return origin is None or origin.rstrip("/").lower() in {
        o.lower() for o in settings.platform_origins
    }


def _token(websocket: WebSocket, settings: ChatSettings) -> tuple[str | None, bool]:
    """(token, is_bearer)."""
    auth = websocket.headers.get("authorization")
    if auth:
        scheme, _, value = auth.partition(" ")
        if scheme.lower() == "bearer" and value.strip():
            return value.strip(), True
        return None, True
    return websocket.cookies.get(settings.access_cookie), False


# public to the HTTP guards (they do not see WebSockets): the handshake is checked below,
# Origin first, then the token, before any frame is read
router = public_router()


@router.websocket(WS_PATH)
async def chat_socket(websocket: WebSocket) -> None:
    app = websocket.app
    settings: ChatSettings = app.state.settings
    # 1. Origin, before accept: a cross-site page never gets a socket (HTTP 403)
    if not _origin_allowed(websocket, settings):
        logger.warning("chat: WebSocket from a foreign Origin refused")
        await websocket.close(code=Close.POLICY)
        return
    token, is_bearer = _token(websocket, settings)
    if token is not None and not is_bearer and websocket.headers.get("origin") is None:
        # a cookie without an Origin: not a browser, and a cookie is only good in one
        await websocket.close(code=Close.POLICY)
        return
    await websocket.accept()
    verifier: TokenVerifier = app.state.token_verifier
    if not token:
        await websocket.close(code=Close.UNAUTHENTICATED, reason="sign in first")
        return
    try:
        principal = await verifier.verify(token)
    except BerthError:
        await websocket.close(code=Close.UNAUTHENTICATED, reason="invalid token")
        return
    try:
        user_id = user_id_of(principal)  # a person: machine clients have no chat of their own
    except BerthError:
        await websocket.close(code=Close.FORBIDDEN, reason="not a person")
        return
    actor = service.person(user_id, principal.roles)
    conn = Connection(websocket, principal, actor)
    hub: Hub = app.state.hub
    hub.connections.add(conn)
    # which replica answered: clients and tests see where they are (no secret in it)
    conn.send({"type": "hello", "replica": hub.replica, "user_id": str(user_id)})
    writer = asyncio.create_task(conn.writer())
    pinger = asyncio.create_task(_pinger(conn, settings, verifier))
    reader = asyncio.create_task(_reader(conn, app, settings))
    try:
        await asyncio.wait({writer, pinger, reader}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for sub in conn.subscriptions.values():
            hub.unsubscribe(sub)
        hub.connections.discard(conn)
        for task in (reader, pinger):
            task.cancel()
        if not writer.done():
            conn.close(conn.close_code or 1000)
            with contextlib.suppress(Exception):
                await asyncio.wait_for(writer, 5)
        if websocket.client_state == WebSocketState.CONNECTED:
            with contextlib.suppress(Exception):
                await websocket.close(code=conn.close_code or 1000)


async def _pinger(conn: Connection, settings: ChatSettings, verifier: TokenVerifier) -> None:
    """Pings every ping_interval; a peer silent past ping_interval + ping_timeout, or idle past
    idle_timeout, is closed 4408; an expired or revoked token 4401."""
    last_activity = time.monotonic()
    while conn.close_code is None:
        await asyncio.sleep(min(settings.ping_interval_seconds, 5.0))
        now = time.monotonic()
        if now - conn.last_seen > settings.ping_interval_seconds + settings.ping_timeout_seconds:
            conn.close(Close.TIMEOUT)
            return
        if conn.principal.expires_at and time.time() > conn.principal.expires_at:
            conn.close(Close.UNAUTHENTICATED)
            return
        try:
            verifier.check_revoked(conn.principal)
        except BerthError:
            conn.close(Close.UNAUTHENTICATED)
            return
        if now - last_activity >= settings.ping_interval_seconds:
            conn.send({"type": "ping", "ts": int(time.time())})
            last_activity = now


async def _reader(conn: Connection, app: Any, settings: ChatSettings) -> None:
    websocket = conn.websocket
    while conn.close_code is None:
        try:
            raw = await websocket.receive()
        except (WebSocketDisconnect, RuntimeError):
            conn.close(1000)
            return
        if raw["type"] == "websocket.disconnect":
            conn.close(1000)
            return
        text = raw.get("text")
        if text is None and raw.get("bytes") is not None:
            text = raw["bytes"].decode("utf-8", "replace")
        conn.last_seen = time.monotonic()
        if text is None:
            continue
        if len(text.encode()) > settings.frame_max_bytes:
            conn.close(Close.TOO_BIG)
            return
        try:
            frame = json.loads(text)
            if not isinstance(frame, dict) or not isinstance(frame.get("type"), str):
                raise ValueError
        except ValueError:
            conn.send(error_frame("bad_frame", "Frames are JSON objects with a type"))
            continue
        try:
            await _handle(conn, app, settings, frame)
        except BerthError as exc:
            conn.send(
                error_frame(
                    exc.code,
                    exc.message,
                    status=exc.status_code,
                    client_msg_id=frame.get("client_msg_id"),
                    conversation_id=frame.get("conversation_id"),
                )
            )
        except Exception:
            # the database or the broker failed this frame: say so, keep the socket (a send
            # is retried with the same client_msg_id and cannot be doubled)
            logger.exception("chat: a frame failed")
            conn.send(
                error_frame(
                    "unavailable",
                    "Could not do that just now; try again",
                    status=503,
                    client_msg_id=frame.get("client_msg_id"),
                    conversation_id=frame.get("conversation_id"),
                )
            )


def _conversation_id(frame: dict) -> uuid.UUID:
    try:
        return uuid.UUID(str(frame.get("conversation_id")))
    except ValueError:
        raise BerthError(
            "conversation_id must be a UUID", status_code=422, code="validation_error"
        ) from None


async def _handle(conn: Connection, app: Any, settings: ChatSettings, frame: dict) -> None:
    kind = frame["type"]
    hub: Hub = app.state.hub
    sessionmaker = app.state.db.sessionmaker
    if kind == "pong":
        return
    if kind == "ping":
        conn.send({"type": "pong"})
        return
    conversation_id = _conversation_id(frame)
    if kind == "subscribe":
        after = frame.get("after_seq", 0)
        if not isinstance(after, int) or after < 0:
            raise BerthError(
                "after_seq is a seq (0 or more)", status_code=422, code="validation_error"
            )
        await _subscribe(conn, hub, sessionmaker, settings, conversation_id, after)
        return
    if kind == "unsubscribe":
        sub = conn.subscriptions.pop(conversation_id, None)
        if sub is not None:
            hub.unsubscribe(sub)
        return
    if kind == "send":
        client_msg_id = frame.get("client_msg_id")
        if not isinstance(client_msg_id, str) or not 1 <= len(client_msg_id) <= 64:
            raise BerthError(
                "client_msg_id: 1 to 64 characters", status_code=422, code="validation_error"
            )
        body = frame.get("body")
        if not isinstance(body, str):
            raise BerthError("body is text", status_code=422, code="validation_error")
        limiter: MessageLimiter = app.state.limiter
        if not await limiter.allow(str(conn.actor.id)):
            conn.refused += 1
            if conn.refused >= REFUSALS_BEFORE_CLOSE:  # a client that ignores the refusals
                conn.close(Close.RATE_LIMITED)
            raise BerthError(
                f"At most {limiter.item} messages", status_code=429, code="rate_limited"
            )
        conn.refused = 0
        sends: SendBatcher = app.state.sends
        posted = await sends.post(conversation_id, conn.actor, body, client_msg_id)  # committed
        frames = [message_frame(m) for m in posted.to_announce]
        ack = {
            "type": "ack",
            "conversation_id": str(conversation_id),
            "client_msg_id": client_msg_id,
            "seq": posted.message.seq,
            "id": str(posted.message.id),
            "duplicate": posted.duplicate,
        }
        conn.send(ack)
        for out in frames:
            await hub.publish(out)
        return
    if kind == "typing":
        async with sessionmaker() as session:
            await service.joinable(session, conversation_id, conn.actor)
        await hub.publish(
            {
                "type": "typing",
                "conversation_id": str(conversation_id),
                "sender_kind": str(conn.actor.kind),
                "sender_id": str(conn.actor.id),
            },
            skip=conn,
        )
        return
    if kind == "read":
        seq = frame.get("seq")
        if not isinstance(seq, int) or seq < 0:
            raise BerthError("seq is a seq (0 or more)", status_code=422, code="validation_error")
        async with sessionmaker() as session:
            marker = await service.mark_read(session, conversation_id, conn.actor, seq)
            await session.commit()  # edge: the marker is kept before it is announced
        await hub.publish(
            {
                "type": "read",
                "conversation_id": str(conversation_id),
                "participant_id": str(conn.actor.id),
                "seq": marker,
            }
        )
        return
    raise BerthError(f"Unknown frame type {kind[:40]!r}", status_code=422, code="unknown_type")


async def _subscribe(
    conn: Connection,
    hub: Hub,
    sessionmaker: Any,
    settings: ChatSettings,
    conversation_id: uuid.UUID,
    after_seq: int,
) -> None:
    """Join (checked), then replay every message with seq > after_seq from PostgreSQL page by
    page, then live. Live messages arriving during the replay wait and go out in order."""
    async with sessionmaker() as session:
        await service.joinable(session, conversation_id, conn.actor)
    old = conn.subscriptions.pop(conversation_id, None)
    if old is not None:
        hub.unsubscribe(old)

    async def backfill(cid: uuid.UUID, after: int) -> list[dict]:
        async with sessionmaker() as session:
            found = await service.replay(session, cid, conn.actor, after, settings.replay_page_size)
            return [message_frame(m) for m in found]

    sub = Subscription(conversation_id, conn.send, backfill, owner=conn)
    sub.last_seq = after_seq
    hub.subscribe(sub)  # before reading: nothing committed meanwhile is missed
    conn.subscriptions[conversation_id] = sub
    last = after_seq
    try:
        while True:
            async with sessionmaker() as session:
                page = await service.replay(
                    session, conversation_id, conn.actor, last, settings.replay_page_size
                )
            for message in page:
                sub.sent_replay(message_frame(message))
            if page:
                last = page[-1].seq
            if len(page) < settings.replay_page_size:
                break
    except BaseException:
        # the replay failed (the client hears 503 and subscribes again): a subscription left
        # replaying would hold every live message back for good, and grow
        conn.subscriptions.pop(conversation_id, None)
        hub.unsubscribe(sub)
        raise
    conn.send({"type": "subscribed", "conversation_id": str(conversation_id), "last_seq": last})
    sub.start_live(last)


async def close_all(hub: Hub) -> None:
    """Shutdown: every socket is told 1001 (going away) to reconnect and resume elsewhere."""
    for conn in list(hub.connections):
        conn.close(Close.GOING_AWAY)
    await asyncio.sleep(0.2)
