"""Revocation of issued access tokens, for every process that checks them.

Access tokens are verified offline (gateway, every service), so ending a session, a machine
client, or a user's tokens must be *told*: each change here is written in the same
transaction as the change itself and published after commit as `auth.access.revoked` (outbox),
and `current()` is the whole list a process loads at start (GET /internal/revocations). See
berth_common.revocation for the receiving side.

- sessions: a refresh family revoked (logout, "sign out this session", refresh-token reuse,
  block, password change or reset): the family's access tokens (claim `sid`) are refused;
- clients: a machine client revoked: all its tokens are refused;
- users: blocked, roles changed, password changed or reset: tokens issued before
  `users.tokens_not_before` are refused. New tokens are never issued before it (see
  `issued_at`), so a token minted in the same second as the change is told apart correctly.

An entry matters until every token it could refuse has expired: its time plus the access
token lifetime (and a leeway for clocks); then it leaves the list.
"""

import math
import time
import uuid
from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from berth_auth.config import AuthSettings
from berth_auth.models import User
from berth_auth.revocations.dao import RevocationDAO
from berth_common.db import Database
from berth_common.outbox import publish_event
from berth_common.revocation import REVOKED_EVENT, Loader, Revocations, RevokedId, RevokedUser

LEEWAY = timedelta(seconds=60)  # clock skew, and the verifiers' own 5 s leeway on `exp`


def horizon(settings: AuthSettings) -> timedelta:
    """How long a revocation matters: the longest an access token issued before it lives."""
    return timedelta(minutes=settings.access_token_expire_minutes) + LEEWAY


def _epoch(moment: datetime) -> int:
    return math.ceil(moment.timestamp())


async def current(
    session: AsyncSession, settings: AuthSettings, now: datetime | None = None
) -> Revocations:
    """Everything revoked recently enough that a token it refuses may still be alive."""
    now = now or datetime.now(UTC)
    since = now - horizon(settings)
    dao = RevocationDAO(session)
    span = horizon(settings)
    return Revocations(
        sessions=[
            RevokedId(id=sid, until=_epoch(at + span))
            for sid, at in await dao.sessions_revoked_since(since)
        ],
        clients=[
            RevokedId(id=client_id, until=_epoch(at + span))
            for client_id, at in await dao.clients_revoked_since(since)
        ],
        users=[
            RevokedUser(id=user_id, not_before=_epoch(at), until=_epoch(at + span))
            for user_id, at in await dao.users_not_before_since(since)
        ],
    )


async def _publish(session: AsyncSession, revocations: Revocations) -> None:
    if not revocations.is_empty():
        await publish_event(session, REVOKED_EVENT, revocations.model_dump(mode="json"))


async def sessions_revoked(
    session: AsyncSession,
    settings: AuthSettings,
    family_ids: Iterable[uuid.UUID | str],
    at: datetime,
) -> None:
    until = _epoch(at + horizon(settings))
    entries = [RevokedId(id=str(family_id), until=until) for family_id in family_ids]
    await _publish(session, Revocations(sessions=entries))


async def client_revoked(
    session: AsyncSession, settings: AuthSettings, client_id: str, at: datetime
) -> None:
    until = _epoch(at + horizon(settings))
    await _publish(session, Revocations(clients=[RevokedId(id=client_id, until=until)]))


async def user_tokens_revoked(
    session: AsyncSession, settings: AuthSettings, user: User, at: datetime
) -> None:
    """Every access token of `user` issued up to now stops working (tokens issued from now on
    carry an `iat` at or after the new not-before)."""
    not_before = datetime.fromtimestamp(math.floor(at.timestamp()) + 1, UTC)
    if user.tokens_not_before is None or user.tokens_not_before < not_before:
        user.tokens_not_before = not_before
    await session.flush()
    entry = RevokedUser(
        id=str(user.id),
        not_before=_epoch(user.tokens_not_before),
        until=_epoch(user.tokens_not_before + horizon(settings)),
    )
    await _publish(session, Revocations(users=[entry]))


def issued_at(user: User, now: float | None = None) -> int:
    """The `iat` of a new access token for `user`: now, but never before its not-before
    (which is at most a second ahead: verifiers allow a few seconds of clock leeway)."""
    now_s = int(time.time() if now is None else now)
    if user.tokens_not_before is None:
        return now_s
    return max(now_s, _epoch(user.tokens_not_before))


def loader(settings: AuthSettings) -> Callable[[Database], Loader]:
    """auth's own web process loads the list straight from its database."""

    def from_database(db: Database) -> Loader:
        async def load() -> Revocations:
            async with db.sessionmaker() as session:
                return await current(session, settings)

        return load

    return from_database
