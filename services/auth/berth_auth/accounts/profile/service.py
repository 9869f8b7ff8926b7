"""The signed-in user's own account: profile, password change, sessions, login history."""

import asyncio
import uuid
from datetime import timedelta

from loguru import logger
from sqlalchemy import Row
from sqlalchemy.ext.asyncio import AsyncSession

from berth_auth.accounts.service import (
    RejectedAttempt,
    notify_password_changed,
    now_utc,
    record_event,
)
from berth_auth.config import AuthSettings
from berth_auth.dao import LoginEventDAO, RefreshFamilyDAO, UserDAO, read_profile
from berth_auth.deps import ClientMeta
from berth_auth.enums import LoginKind
from berth_auth.models import LoginEvent, RefreshTokenFamily, User
from berth_auth.passwords import hash_password, verify_password
from berth_auth.revocations import service as revocations
from berth_common.db import Reads
from berth_common.errors import Forbidden, NotFound, RateLimited, Unauthorized
from berth_common.pagination import PageParams
from berth_common.security import Principal, PrincipalKind


def _uuid(value: object) -> uuid.UUID | None:
    try:
        return uuid.UUID(str(value))
    except ValueError:
        return None


def session_id(principal: Principal) -> uuid.UUID | None:
    """The refresh family the access token was minted from (claim `sid`)."""
    sid = principal.claims.get("sid")
    return _uuid(sid) if sid else None


async def active_user(session: AsyncSession, principal: Principal) -> User:
    if principal.kind != PrincipalKind.USER:
        raise Forbidden("This endpoint is for people, not machine clients")
    user_id = _uuid(principal.subject)
    user = await UserDAO(session).get(user_id) if user_id else None
    if user is None:
        raise Unauthorized("Unknown user")
    if user.is_blocked:
        raise Forbidden("This account is blocked", code="account_blocked")
    return user


async def profile(reads: Reads, principal: Principal) -> Row:
    """The caller's profile columns (and whether they are blocked), as active_user checks."""
    if principal.kind != PrincipalKind.USER:
        raise Forbidden("This endpoint is for people, not machine clients")
    user_id = _uuid(principal.subject)
    row = None
    if user_id is not None:
        row = await read_profile(reads, user_id)
    if row is None:
        raise Unauthorized("Unknown user")
    if row.is_blocked:
        raise Forbidden("This account is blocked", code="account_blocked")
    return row


async def update_profile(
    session: AsyncSession, principal: Principal, changes: dict[str, object]
) -> User:
    user = await active_user(session, principal)
    if "name" in changes:
        user.name = str(changes["name"])
    if "phone" in changes:
        user.phone = changes["phone"]  # type: ignore[assignment]
    await session.flush()
    return user


async def change_password(
    session: AsyncSession,
    settings: AuthSettings,
    principal: Principal,
    *,
    current_password: str,
    new_password: str,
    client: ClientMeta,
) -> int:
    """Set a new password and sign out every other session; returns how many were revoked."""
    user = await active_user(session, principal)
    events = LoginEventDAO(session)
    now = now_utc()
    since = now - timedelta(minutes=settings.login_window_minutes)
    if await events.failures_of_user(LoginKind.PASSWORD_CHANGE, user.id, since) >= (
        settings.login_max_failures_per_account
    ):
        raise RateLimited(
            "Too many wrong passwords; try again later",
            retry_after=settings.login_window_minutes * 60,
        )
    if not await asyncio.to_thread(verify_password, user.password_hash, current_password):
        await record_event(
            session,
            kind=LoginKind.PASSWORD_CHANGE,
            email=user.email,
            user_id=user.id,
            client=client,
            success=False,
            reason="wrong_password",
        )
        raise RejectedAttempt("Current password is incorrect", code="invalid_password")

    user.password_hash = await asyncio.to_thread(hash_password, new_password)
    user.password_changed_at = now
    revoked = await RefreshFamilyDAO(session).revoke_all(
        user.id, "password_changed", now, keep=session_id(principal)
    )
    # every access token issued before, this session's too (the panel refreshes it)
    await revocations.user_tokens_revoked(session, settings, user, now)
    await record_event(
        session,
        kind=LoginKind.PASSWORD_CHANGE,
        email=user.email,
        user_id=user.id,
        client=client,
        success=True,
    )
    note = "Your other sessions were signed out." if revoked else ""
    await notify_password_changed(session, settings, user, note)
    await session.flush()
    logger.info("user {} changed password, {} other session(s) revoked", user.id, revoked)
    return revoked


async def list_sessions(
    session: AsyncSession, principal: Principal, params: PageParams
) -> tuple[list[RefreshTokenFamily], int]:
    user = await active_user(session, principal)
    return await RefreshFamilyDAO(session).list(params, RefreshTokenFamily.user_id == user.id)


async def revoke_session(
    session: AsyncSession, settings: AuthSettings, principal: Principal, family_id: uuid.UUID
) -> None:
    """Sign a session out: its refresh token stops refreshing, its access tokens stop working
    within seconds."""
    user = await active_user(session, principal)
    families = RefreshFamilyDAO(session)
    family = await families.get_for_user(family_id, user.id)
    if family is None:  # another user's session is as unknown as a made-up id
        raise NotFound("Session not found")
    if family.revoked_at is None:
        now = now_utc()
        await families.revoke(family, reason="user_revoked", at=now)
        await revocations.sessions_revoked(session, settings, [family.id], now)


async def login_history(
    session: AsyncSession, principal: Principal, params: PageParams
) -> tuple[list[LoginEvent], int]:
    user = await active_user(session, principal)
    return await LoginEventDAO(session).list(params, LoginEvent.user_id == user.id)
