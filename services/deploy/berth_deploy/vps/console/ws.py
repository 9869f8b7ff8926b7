"""The console WebSocket: /api/deploy/v1/vps/{vps_id}/console?token=… (README: "VPS console").

The handshake, in order: a browser's `Origin` must be a platform origin (else HTTP 403 before
the upgrade); a request without Origin (not a browser) must carry a bearer token; the person
is the one the access token (bearer or the access cookie) names; the console token must be
unspent, unexpired and made for that person and this VPS, which must be theirs, unsuspended
and running. Then binary frames carry the console's bytes both ways (the tail of the console
log first, so a refreshed page shows the screen again); text frames are JSON control frames:
`{"type": "ping"}` every DEPLOY_CONSOLE_PING_SECONDS (answer `{"type": "pong"}`), and a client
may send `{"type": "input", "data": "…"}`. The close code says why it closed (service.Close);
every session is written to the audit when it opens and when it closes.
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

from berth_common.errors import BerthError, Forbidden
from berth_common.routing import public_router
from berth_common.security import Principal, PrincipalKind, TokenVerifier, user_id_of
from berth_deploy.config import DeploySettings
from berth_deploy.vps.console import relay, service
from berth_deploy.vps.console.relay import ConsoleLink, ConsoleRegistry, OutputThrottle
from berth_deploy.vps.console.service import Close

WS_PATH = "/api/deploy/v1/vps/{vps_id}/console"

# public to the HTTP guards (they do not see WebSockets): the handshake is checked below
router = public_router(tags=["vps console"])


def _origin_allowed(websocket: WebSocket, settings: DeploySettings) -> bool:
    origin = websocket.headers.get("origin")
    return origin is None or origin.rstrip("/").lower() in {
        o.lower() for o in settings.platform_origins
    }


def _access_token(websocket: WebSocket, settings: DeploySettings) -> tuple[str | None, bool]:
    """(token, is_bearer)."""
    auth = websocket.headers.get("authorization")
    if auth:
        scheme, _, value = auth.partition(" ")
        if scheme.lower() == "bearer" and value.strip():
            return value.strip(), True
        return None, True
    return websocket.cookies.get(settings.access_cookie), False


def _client_address(websocket: WebSocket) -> str | None:
    forwarded = websocket.headers.get("x-forwarded-for")
    if forwarded:
        return forwarded.split(",")[0].strip() or None
    return websocket.client.host if websocket.client else None


async def _refuse(websocket: WebSocket, code: int, message: str) -> None:
    await websocket.accept()
    await websocket.close(code=code, reason=message[:120])


@router.websocket(WS_PATH)
async def console_socket(websocket: WebSocket, vps_id: str) -> None:
    app = websocket.app
    settings: DeploySettings = app.state.settings
    # 1. Origin, before accept: a cross-site page never gets a console (HTTP 403)
    if not _origin_allowed(websocket, settings):
        logger.warning("vps console: WebSocket from a foreign Origin refused")
        await websocket.close(code=Close.POLICY)
        return
    access, is_bearer = _access_token(websocket, settings)
    if websocket.headers.get("origin") is None and not is_bearer:
        # no Origin: not a browser, so no cookie is good here
        await websocket.close(code=Close.POLICY)
        return
    try:
        vps = uuid.UUID(vps_id)
    except ValueError:
        await _refuse(websocket, Close.GONE, "No such VPS")
        return
    if not access:
        await _refuse(websocket, Close.UNAUTHENTICATED, "Sign in first")
        return
    verifier: TokenVerifier = app.state.token_verifier
    try:
        principal = await verifier.verify(access)
    except BerthError as exc:
        await _refuse(websocket, Close.UNAUTHENTICATED, exc.message)
        return
    try:
        if principal.kind != PrincipalKind.USER:
            raise Forbidden("Machine clients have no console")
        user_id = user_id_of(principal)
    except BerthError as exc:
        await _refuse(websocket, Close.FORBIDDEN, exc.message)
        return
    token = websocket.query_params.get("token") or ""
    sessionmaker = app.state.db.sessionmaker
    async with sessionmaker() as db:
        token_id, verdict = await service.redeem(db, vps, token, user_id)
        session_id = None
        if token_id is not None:
            session_id = await service.open_session(
                db, vps, user_id, token_id, _client_address(websocket)
            )
        await db.commit()  # edge: the token is spent and the session audited before it opens
    if verdict is not None or session_id is None:
        verdict = verdict or service.Verdict(Close.FORBIDDEN, "token_refused", "Refused")
        await _refuse(websocket, verdict.code, verdict.message)
        return
    link = ConsoleLink(vps, user_id, session_id)
    registry: ConsoleRegistry = app.state.console_registry
    await registry.take_over(link, Close.REPLACED)
    try:
        await _serve(websocket, app, settings, link, principal, verifier)
    finally:
        registry.release(link)
        code = link.close_code or Close.NORMAL
        try:
            async with sessionmaker() as db:
                await service.close_session(
                    db,
                    session_id,
                    code=code,
                    reason=link.close_reason or "client_closed",
                    bytes_in=link.bytes_in,
                    bytes_out=link.bytes_out,
                )
                await db.commit()  # edge: the audit says how and when it ended
        except Exception:  # the database is away: the socket still closes (the row stays open)
            logger.exception("vps console: could not audit the close", session_id=str(session_id))
        # the audit first, then the close: whoever hears the close finds the session closed
        if websocket.client_state == WebSocketState.CONNECTED:
            with contextlib.suppress(Exception):
                await websocket.close(code=code, reason=link.close_message[:120])
        logger.info(
            "vps console closed",
            vps_id=str(vps),
            session_id=str(session_id),
            code=code,
            reason=link.close_reason,
        )


async def _serve(
    websocket: WebSocket,
    app: Any,
    settings: DeploySettings,
    link: ConsoleLink,
    principal: Principal,
    verifier: TokenVerifier,
) -> None:
    try:
        socket_path, log_path = app.state.console_locator(link.vps_id)
        reader, writer = await relay.connect(socket_path)
    except Exception:  # no machine driver here, or its console socket does not answer
        logger.warning("vps console: the console socket did not answer", vps_id=str(link.vps_id))
        link.close(Close.CONSOLE_UNAVAILABLE, "console_unavailable", "The console is not answering")
        await websocket.accept()  # closed 1011 once the audit has it
        return
    await websocket.accept()
    tasks: list[asyncio.Task] = []
    try:
        hello = {"type": "hello", "session_id": str(link.session_id), "vps_id": str(link.vps_id)}
        await websocket.send_text(json.dumps(hello))
        tail = await asyncio.to_thread(relay.log_tail, log_path, settings.console_replay_bytes)
        if tail:
            await websocket.send_bytes(tail)
        tasks = [
            asyncio.create_task(_pump_out(websocket, reader, link, settings)),
            asyncio.create_task(_pump_in(websocket, writer, link, settings)),
            asyncio.create_task(_pinger(websocket, link, settings)),
            asyncio.create_task(_watch(app, link, settings, principal, verifier)),
            asyncio.create_task(link.closing.wait()),
        ]
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        if link.close_code is None and tasks[0].done():  # the machine closed its console
            await _why_it_ended(app, link, settings)
    except (WebSocketDisconnect, RuntimeError, OSError):
        link.close(Close.NORMAL, "client_closed")
    finally:
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(BaseException):
                await task
        writer.close()
        with contextlib.suppress(Exception):
            await writer.wait_closed()
        if link.close_code is None:
            link.close(Close.NORMAL, "client_closed")


async def _pump_out(
    websocket: WebSocket, reader: asyncio.StreamReader, link: ConsoleLink, settings: DeploySettings
) -> None:
    """Machine → browser, throttled."""
    throttle = OutputThrottle(settings.console_output_bytes_per_second)
    while True:
        data = await reader.read(relay.READ_CHUNK)
        if not data:  # _serve tells why (_why_it_ended)
            return
        await throttle.take(len(data))
        try:
            await websocket.send_bytes(data)
        except (WebSocketDisconnect, RuntimeError, OSError):
            link.close(Close.NORMAL, "client_closed")
            return
        link.bytes_out += len(data)


async def _pump_in(
    websocket: WebSocket, writer: asyncio.StreamWriter, link: ConsoleLink, settings: DeploySettings
) -> None:
    """Browser → machine: binary frames are keystrokes; text frames are control frames."""
    while True:
        try:
            message = await websocket.receive()
        except (WebSocketDisconnect, RuntimeError):
            link.close(Close.NORMAL, "client_closed")
            return
        if message["type"] == "websocket.disconnect":
            link.close(Close.NORMAL, "client_closed")
            return
        link.last_seen = time.monotonic()
        data: bytes | None = message.get("bytes")
        text: str | None = message.get("text")
        size = len(data) if data is not None else len((text or "").encode())
        if size > settings.console_frame_max_bytes:
            link.close(Close.TOO_BIG, "too_big", "That frame is too big")
            return
        if data is None and text is not None:
            data = _control(websocket, text)
        if data:
            writer.write(data)
            await writer.drain()
            link.bytes_in += len(data)


def _control(websocket: WebSocket, text: str) -> bytes | None:
    """The input bytes a text frame carries (`input`), else None (pong, ping answered)."""
    try:
        frame = json.loads(text)
    except ValueError:
        return None
    if not isinstance(frame, dict):
        return None
    if frame.get("type") == "input" and isinstance(frame.get("data"), str):
        return frame["data"].encode()
    if frame.get("type") == "ping":
        asyncio.get_running_loop().create_task(websocket.send_text('{"type":"pong"}'))
    return None


async def _pinger(websocket: WebSocket, link: ConsoleLink, settings: DeploySettings) -> None:
    """A ping every console_ping_seconds (proxies keep a socket that talks); a peer silent past
    ping + timeout is closed 4408."""
    last_ping = time.monotonic()
    while True:
        await asyncio.sleep(min(settings.console_ping_seconds, 1.0))
        now = time.monotonic()
        silent = now - link.last_seen
        if silent > settings.console_ping_seconds + settings.console_ping_timeout_seconds:
            link.close(Close.TIMEOUT, "ping_timeout", "The browser stopped answering")
            return
        if now - last_ping >= settings.console_ping_seconds:
            last_ping = now
            try:
                await websocket.send_text(json.dumps({"type": "ping", "ts": int(time.time())}))
            except (WebSocketDisconnect, RuntimeError, OSError):
                link.close(Close.NORMAL, "client_closed")
                return


async def _why_it_ended(app: Any, link: ConsoleLink, settings: DeploySettings) -> None:
    """The machine closed its console: because it was suspended, stopped or deleted (the
    operation that stopped it records that a moment after the machine is down), or on its
    own. The VPS's own word within a few watch periods names the close; else 4410."""
    deadline = time.monotonic() + max(5.0, 3 * settings.console_watch_seconds)
    while time.monotonic() < deadline:
        try:
            async with app.state.db.sessionmaker() as db:
                verdict = await service.check(db, link.vps_id, link.user_id)
        except Exception:  # the database blinked: the machine's word is all there is
            break
        if verdict is not None:
            link.close(verdict.code, verdict.reason, verdict.message)
            return
        await asyncio.sleep(0.5)
    link.close(Close.ENDED, "console_ended", "The machine closed its console")


async def _watch(
    app: Any,
    link: ConsoleLink,
    settings: DeploySettings,
    principal: Principal,
    verifier: TokenVerifier,
) -> None:
    """Every console_watch_seconds: is the VPS still the person's, unsuspended and running,
    and their sign-in not revoked? The first no closes the console, saying why."""
    sessionmaker = app.state.db.sessionmaker
    while True:
        await asyncio.sleep(settings.console_watch_seconds)
        try:
            verifier.check_revoked(principal)
        except BerthError:
            link.close(Close.UNAUTHENTICATED, "revoked", "Your session was signed out")
            return
        try:
            async with sessionmaker() as db:
                verdict = await service.check(db, link.vps_id, link.user_id)
        except Exception:  # the database blinked: keep the console, look again next time
            logger.warning("vps console: could not re-check the VPS", vps_id=str(link.vps_id))
            continue
        if verdict is not None:
            link.close(verdict.code, verdict.reason, verdict.message)
            return


async def close_all(registry: ConsoleRegistry) -> None:
    """Shutdown: every console is told 1001 (going away) to open again."""
    registry.close_all(Close.GOING_AWAY)
    await asyncio.sleep(0.2)
