"""Account lifecycle without HTTP: registration, email verification, password reset, and
the periodic purge of what these leave behind."""

import asyncio
import hmac
import uuid
from datetime import UTC, datetime, timedelta

from loguru import logger
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from berth_auth import mail
from berth_auth.accounts.dao import OutgoingEmailDAO, VerificationCodeDAO
from berth_auth.config import AuthSettings
from berth_auth.dao import LoginEventDAO, RefreshFamilyDAO, UserDAO
from berth_auth.deps import ClientMeta
from berth_auth.enums import CodePurpose
from berth_auth.models import User
from berth_auth.passwords import generate_code, hash_password, hmac_digest
from berth_auth.revocations import service as revocations
from berth_auth.throttle.dao import LoginAttemptWindowDAO
from berth_common.errors import BerthError, Conflict, RateLimited
from berth_common.outbox import publish_event

INVALID_CODE = "Invalid code"
CODE_RETENTION = timedelta(days=1)
REVOKED_FAMILY_TOKEN_RETENTION = timedelta(days=7)
LOGIN_EVENT_RETENTION = timedelta(days=180)
DELIVERED_EMAIL_RETENTION = timedelta(days=30)
# login attempt windows last AUTH_LOGIN_WINDOW_MINUTES (15 by default): a day-old one is over
ATTEMPT_WINDOW_RETENTION = timedelta(days=1)


class RejectedAttempt(BerthError):
    """A refused guess (code or password) whose failure has been recorded and flushed.

    The api returns it as a response instead of letting it propagate, so the request's
    transaction commits and the attempt counter and login event persist.
    """

    status_code = 400
    code = "invalid_code"


def now_utc() -> datetime:
    return datetime.now(UTC)


def display_name(user: User) -> str:
    return user.name or "there"


def code_hash(settings: AuthSettings, code_id: uuid.UUID, code: str) -> str:
    return hmac_digest(settings.secret_key.get_secret_value(), f"{code_id}:{code}")


async def record_event(
    session: AsyncSession,
    *,
    kind: str,
    email: str,
    user_id: uuid.UUID | None,
    client: ClientMeta,
    success: bool,
    reason: str | None = None,
) -> None:
    await LoginEventDAO(session).create(
        user_id=user_id,
        email=email,
        kind=kind,
        ip=client.ip,
        user_agent=client.user_agent,
        success=success,
        reason=reason,
    )


async def _send_code(
    session: AsyncSession, settings: AuthSettings, user: User, purpose: str
) -> None:
    """Replace the user's open codes for `purpose` with a fresh one and email it."""
    codes = VerificationCodeDAO(session)
    await codes.delete_open(user.id, purpose)
    code_id = uuid.uuid4()
    code = generate_code()
    await codes.create(
        id=code_id,
        user_id=user.id,
        purpose=purpose,
        code_hash=code_hash(settings, code_id, code),
        expires_at=now_utc() + timedelta(minutes=settings.code_ttl_minutes),
    )
    await mail.queue_email(
        session,
        settings,
        to=user.email,
        template=purpose,
        user_id=user.id,
        context={
            "name": display_name(user),
            "code": code,
            "ttl_minutes": settings.code_ttl_minutes,
        },
    )


async def register(
    session: AsyncSession,
    settings: AuthSettings,
    *,
    email: str,
    password: str,
    name: str,
    phone: str | None,
) -> User:
    users = UserDAO(session)
    # Sign-up on a hosting platform says "you already have an account" (409); the code and
    # reset endpoints stay silent, so this is the one place existence is answered.
    if await users.get_by_email(email) is not None:
        raise Conflict("email already registered", code="email_taken")
    password_hash = await asyncio.to_thread(hash_password, password)
    try:
        user = await users.create(
            email=email, password_hash=password_hash, name=name, phone=phone, roles=["user"]
        )
    except IntegrityError as exc:  # a concurrent sign-up with the same email won
        raise Conflict("email already registered", code="email_taken") from exc
    await _send_code(session, settings, user, CodePurpose.VERIFY_EMAIL)
    await publish_event(
        session, "auth.user.registered", {"user_id": str(user.id), "email": user.email}
    )
    logger.info("user {} registered", user.id)
    return user


async def redeem_code(
    session: AsyncSession,
    settings: AuthSettings,
    *,
    email: str,
    code: str,
    purpose: str,
    client: ClientMeta,
) -> User:
    """Check and consume the user's open code for `purpose`; every outcome is recorded.

    Raises RejectedAttempt for a bad guess (after flushing the attempt), RateLimited when
    this IP has failed too often in the window.
    """
    now = now_utc()
    if client.ip is not None:
        since = now - timedelta(minutes=settings.login_window_minutes)
        failures = await LoginEventDAO(session).failures_from_ip(purpose, client.ip, since)
        if failures >= settings.login_max_failures_per_ip:
            raise RateLimited(
                "Too many failed attempts; try again later",
                retry_after=settings.login_window_minutes * 60,
            )

    user = await UserDAO(session).get_by_email(email)
    row = await VerificationCodeDAO(session).latest_open(user.id, purpose) if user else None

    async def reject(reason: str, message: str = INVALID_CODE, code_: str = "invalid_code"):
        await record_event(
            session,
            kind=purpose,
            email=email,
            user_id=user.id if user else None,
            client=client,
            success=False,
            reason=reason,
        )
        return RejectedAttempt(message, code=code_)

    # unknown email, no open code and a wrong code all read the same to the caller
    if user is None:
        raise await reject("unknown_email")
    if row is None:
        raise await reject("no_code")
    if row.attempts >= settings.code_max_attempts:
        raise await reject(
            "code_exhausted", "Too many wrong attempts; request a new code", "code_exhausted"
        )
    if row.expires_at <= now:
        raise await reject(
            "code_expired", "The code has expired; request a new one", "code_expired"
        )
    if not hmac.compare_digest(row.code_hash, code_hash(settings, row.id, code)):
        row.attempts += 1
        raise await reject("wrong_code")

    row.consumed_at = now
    await record_event(
        session, kind=purpose, email=email, user_id=user.id, client=client, success=True
    )
    return user


async def verify_email(
    session: AsyncSession, settings: AuthSettings, *, email: str, code: str, client: ClientMeta
) -> User:
    user = await redeem_code(
        session, settings, email=email, code=code, purpose=CodePurpose.VERIFY_EMAIL, client=client
    )
    if user.email_verified_at is None:
        user.email_verified_at = now_utc()
        await publish_event(
            session, "auth.user.email_verified", {"user_id": str(user.id), "email": user.email}
        )
    await session.flush()
    return user


async def send_code(
    session: AsyncSession, settings: AuthSettings, *, email: str, purpose: str
) -> bool:
    """Send a fresh code if the account may get one; False when silently skipped.

    The caller answers 202 either way: the answer must not reveal whether the email is
    registered, and a too-early resend is skipped quietly rather than answered with 429.
    """
    user = await UserDAO(session).get_by_email(email, for_update=True)
    if user is None or user.is_blocked:
        return False
    if purpose == CodePurpose.VERIFY_EMAIL and user.email_verified_at is not None:
        return False
    last = await VerificationCodeDAO(session).last_issued_at(user.id, purpose)
    if last is not None and now_utc() - last < timedelta(seconds=settings.code_resend_seconds):
        return False
    await _send_code(session, settings, user, purpose)
    return True


async def notify_password_changed(
    session: AsyncSession, settings: AuthSettings, user: User, sessions_note: str
) -> None:
    await mail.queue_email(
        session,
        settings,
        to=user.email,
        template="password_changed",
        user_id=user.id,
        context={
            "name": display_name(user),
            "changed_at": now_utc().strftime("%Y-%m-%d %H:%M UTC"),
            "sessions_note": sessions_note,
        },
    )


async def reset_password(
    session: AsyncSession,
    settings: AuthSettings,
    *,
    email: str,
    code: str,
    new_password: str,
    client: ClientMeta,
) -> User:
    user = await redeem_code(
        session, settings, email=email, code=code, purpose=CodePurpose.PASSWORD_RESET, client=client
    )
    now = now_utc()
    user.password_hash = await asyncio.to_thread(hash_password, new_password)
    user.password_changed_at = now
    if user.email_verified_at is None:  # the code proved the mailbox is theirs
        user.email_verified_at = now
    await RefreshFamilyDAO(session).revoke_all(user.id, "password_reset", now)
    await revocations.user_tokens_revoked(session, settings, user, now)
    await notify_password_changed(
        session, settings, user, "You have been signed out everywhere; sign in again."
    )
    await session.flush()
    logger.info("password of user {} reset", user.id)
    return user


async def purge_expired(session: AsyncSession, now: datetime | None = None) -> dict[str, int]:
    """Set-based deletes of spent codes, dead refresh tokens, old history and sent emails."""
    now = now or now_utc()
    counts = {
        "verification_codes": await VerificationCodeDAO(session).purge(now - CODE_RETENTION),
        "refresh_tokens": await RefreshFamilyDAO(session).purge_tokens(
            now, now - REVOKED_FAMILY_TOKEN_RETENTION
        ),
        "login_events": await LoginEventDAO(session).purge(now - LOGIN_EVENT_RETENTION),
        "login_attempt_windows": await LoginAttemptWindowDAO(session).purge(
            now - ATTEMPT_WINDOW_RETENTION
        ),
        "outgoing_emails": await OutgoingEmailDAO(session).purge_delivered(
            now - DELIVERED_EMAIL_RETENTION
        ),
    }
    logger.info("purge done: {}", counts)
    return counts
