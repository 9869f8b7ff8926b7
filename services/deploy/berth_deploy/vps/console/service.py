"""Console tokens, the console's access rule and the sessions' audit.

- A token is `bvc_` and 43 random URL-safe characters, good for one handshake within
  DEPLOY_CONSOLE_TOKEN_SECONDS (at most 60 s); only its SHA-256 is kept. It names the person
  it was made for: the handshake must come from that person too.
- A console may be open while the VPS is its owner's, not suspended and in a running state;
  an open console checks that again every DEPLOY_CONSOLE_WATCH_SECONDS and closes, saying
  why, as soon as it no longer holds.
"""

import hashlib
import secrets
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from berth_common.errors import Conflict, NotFound
from berth_common.pagination import PageParams
from berth_deploy.config import DeploySettings
from berth_deploy.vps.console.dao import (
    ConsoleSessionDAO,
    ConsoleTokenDAO,
    VpsAccess,
    vps_access,
)
from berth_deploy.vps.console.models import VpsConsoleSession

TOKEN_PREFIX = "bvc_"
#: statuses in which the machine runs and its console answers
OPEN_STATUSES = frozenset({"running", "starting", "rebooting"})
GONE_STATUSES = frozenset({"deleting", "deleted"})


class Close:
    """WebSocket close codes of the console, each saying why (the audit keeps the reason)."""

    NORMAL = 1000
    GOING_AWAY = 1001  # this web process shuts down: open a new console
    POLICY = 1008  # foreign Origin (refused before the upgrade: HTTP 403)
    CONSOLE_UNAVAILABLE = 1011  # the machine's console socket did not answer
    UNAUTHENTICATED = 4401  # no signed-in person, or their session was revoked
    FORBIDDEN = 4403  # token unknown, spent, expired, another person's, or access lost
    GONE = 4404  # the VPS was deleted
    TIMEOUT = 4408  # the browser stopped answering pings
    STOPPED = 4409  # the VPS is not running (stopped, stopping, failed...)
    TOO_BIG = 4413  # an input frame over DEPLOY_CONSOLE_FRAME_MAX_BYTES
    SUSPENDED = 4423  # the VPS was suspended (billing or an admin)
    REPLACED = 4429  # a newer console of the same VPS took over (the console is one stream)
    ENDED = 4410  # the machine closed its console (it powered off or was destroyed)


class VpsNotFound(NotFound):
    code = "vps_not_found"


class ConsoleUnavailable(Conflict):
    code = "console_unavailable"


@dataclass(frozen=True)
class Verdict:
    """Why a console may not be (or stay) open: a close code and a reason key."""

    code: int
    reason: str
    message: str


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def judge(vps: VpsAccess | None, user_id: uuid.UUID) -> Verdict | None:
    """None when `user_id` may have this VPS's console open now, else why not."""
    if vps is None or vps.status in GONE_STATUSES:
        return Verdict(Close.GONE, "deleted", "The VPS was deleted")
    if vps.owner_id != user_id:
        return Verdict(Close.FORBIDDEN, "access_lost", "This VPS is not yours")
    # suspended, or being suspended: the console closes the moment the suspend is asked for
    if vps.suspended_by is not None or vps.status == "suspended" or vps.suspending:
        return Verdict(Close.SUSPENDED, "suspended", "The VPS is suspended")
    if vps.status not in OPEN_STATUSES:
        return Verdict(Close.STOPPED, "stopped", f"The VPS is {vps.status}")
    return None


async def check(session: AsyncSession, vps_id: uuid.UUID, user_id: uuid.UUID) -> Verdict | None:
    return judge(await vps_access(session, vps_id), user_id)


def console_url(settings: DeploySettings, vps_id: uuid.UUID, token: str) -> str:
    base = settings.public_url.rstrip("/")
    scheme, _, rest = base.partition("://")
    ws = "wss" if scheme == "https" else "ws"
    return f"{ws}://{rest}/api/deploy/v1/vps/{vps_id}/console?token={token}"


async def mint_token(
    session: AsyncSession, settings: DeploySettings, vps_id: uuid.UUID, user_id: uuid.UUID
) -> tuple[str, datetime]:
    """A fresh single-use token for the owner's running VPS, and when it expires. Another
    person's VPS is not found (404), never forbidden: its existence is not theirs to learn."""
    vps = await vps_access(session, vps_id)
    if vps is None or vps.owner_id != user_id or vps.status in GONE_STATUSES:
        raise VpsNotFound("VPS not found")
    verdict = judge(vps, user_id)
    if verdict is not None:
        raise ConsoleUnavailable(
            f"{verdict.message}: its console opens while it runs",
            details={"status": vps.status, "reason": verdict.reason},
        )
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    expires_at = datetime.now(UTC) + timedelta(seconds=settings.console_token_seconds)
    await ConsoleTokenDAO(session).create(
        vps_id=vps_id, user_id=user_id, token_hash=token_hash(token), expires_at=expires_at
    )
    return token, expires_at


async def redeem(
    session: AsyncSession, vps_id: uuid.UUID, token: str, user_id: uuid.UUID
) -> tuple[uuid.UUID | None, Verdict | None]:
    """Spend `token` for `user_id` opening `vps_id`'s console: (token id, None) if it may
    open, else (None, why not). A token is spent even when the console then may not open."""
    refused = Verdict(
        Close.FORBIDDEN, "token_refused", "The console token is unknown, used or expired"
    )
    if not token.startswith(TOKEN_PREFIX) or len(token) > 100:
        return None, refused
    row = await ConsoleTokenDAO(session).redeem(
        vps_id, user_id, token_hash(token), datetime.now(UTC)
    )
    if row is None:
        return None, refused
    verdict = await check(session, vps_id, user_id)
    return (row.id, None) if verdict is None else (None, verdict)


async def open_session(
    session: AsyncSession,
    vps_id: uuid.UUID,
    user_id: uuid.UUID,
    token_id: uuid.UUID,
    client_address: str | None,
) -> uuid.UUID:
    row = await ConsoleSessionDAO(session).create(
        vps_id=vps_id,
        user_id=user_id,
        token_id=token_id,
        client_address=(client_address or None) and client_address[:64],
    )
    return row.id


async def close_session(
    session: AsyncSession,
    session_id: uuid.UUID,
    *,
    code: int,
    reason: str,
    bytes_in: int,
    bytes_out: int,
) -> None:
    await ConsoleSessionDAO(session).close(
        session_id, code=code, reason=reason, bytes_in=bytes_in, bytes_out=bytes_out
    )


async def list_sessions(
    session: AsyncSession,
    params: PageParams,
    *,
    vps_id: uuid.UUID | None = None,
    user_id: uuid.UUID | None = None,
    open_only: bool = False,
) -> tuple[list[VpsConsoleSession], int]:
    dao = ConsoleSessionDAO(session)
    return await dao.list(params, stmt=dao.filtered(vps_id, user_id, open_only))


async def purge_tokens(session: AsyncSession, older_than: timedelta) -> int:
    """Spent and expired tokens past `older_than` are of no more use (the audit keeps the
    sessions)."""
    return await ConsoleTokenDAO(session).purge_expired(datetime.now(UTC) - older_than)
