"""Queries on the tables every part of the auth service reads: users, refresh-token families
(sessions), login events and audit notes. Queries only one sub-package needs stay in its dao.py.
"""

import uuid
from datetime import datetime

from sqlalchemy import Row, bindparam, delete, func, or_, select, update

from berth_auth.enums import LoginKind
from berth_auth.models import (
    AuditNote,
    LoginEvent,
    RefreshToken,
    RefreshTokenFamily,
    User,
)
from berth_common.dao import BaseDAO
from berth_common.db import Reads

# Only wrong guesses count towards brute-force limits (not throttled or blocked attempts).
GUESS_FAILURE = "invalid_credentials"


# what /me shows, read as plain columns: no ORM object, identity map or flush bookkeeping for
# the panel's most frequent call (it reads on every page)
_PROFILE = select(
    *(
        User.__table__.c[name]
        for name in (
            "id",
            "email",
            "name",
            "phone",
            "roles",
            "email_verified_at",
            "password_changed_at",
            "created_at",
            "is_blocked",
        )
    )
).where(User.__table__.c.id == bindparam("user_id"))


async def read_profile(reads: Reads, user_id: uuid.UUID) -> Row | None:
    """The profile columns of /me (and is_blocked), as one row, read without a session."""
    return await reads.first(_PROFILE, {"user_id": user_id})


class UserDAO(BaseDAO[User]):
    model = User
    not_found_message = "User not found"

    async def get_by_email(self, email: str, *, for_update: bool = False) -> User | None:
        stmt = select(User).where(User.email == email)
        if for_update:
            stmt = stmt.with_for_update()
        return (await self.session.execute(stmt)).scalars().first()

    async def get_for_update(self, user_id: uuid.UUID) -> User | None:
        stmt = select(User).where(User.id == user_id).with_for_update()
        return (await self.session.execute(stmt)).scalars().first()


class RefreshFamilyDAO(BaseDAO[RefreshTokenFamily]):
    model = RefreshTokenFamily
    sortable = {"created_at": RefreshTokenFamily.created_at}
    default_sort = (RefreshTokenFamily.created_at.desc(), RefreshTokenFamily.id)
    not_found_message = "Session not found"

    async def get_for_update(self, family_id: uuid.UUID) -> RefreshTokenFamily | None:
        """Every change to a family and its tokens happens under this row lock."""
        stmt = (
            select(RefreshTokenFamily)
            .where(RefreshTokenFamily.id == family_id)
            .with_for_update()
            .execution_options(populate_existing=True)
        )
        return (await self.session.execute(stmt)).scalars().first()

    async def get_for_user(
        self, family_id: uuid.UUID, user_id: uuid.UUID
    ) -> RefreshTokenFamily | None:
        return await self.get_by(
            RefreshTokenFamily.id == family_id, RefreshTokenFamily.user_id == user_id
        )

    async def revoke(self, family: RefreshTokenFamily, *, reason: str, at: datetime) -> None:
        if family.revoked_at is None:
            family.revoked_at = at
            family.revoked_reason = reason
            await self.session.flush()

    async def revoke_all(
        self,
        user_id: uuid.UUID,
        reason: str,
        now: datetime,
        *,
        keep: uuid.UUID | None = None,
    ) -> int:
        stmt = update(RefreshTokenFamily).where(
            RefreshTokenFamily.user_id == user_id, RefreshTokenFamily.revoked_at.is_(None)
        )
        if keep is not None:
            stmt = stmt.where(RefreshTokenFamily.id != keep)
        result = await self.session.execute(
            stmt.values(revoked_at=now, revoked_reason=reason).execution_options(
                synchronize_session="fetch"
            )
        )
        return result.rowcount or 0

    async def purge_tokens(self, now: datetime, revoked_before: datetime) -> int:
        """Refresh tokens of families that expired or were revoked long ago."""
        dead_families = select(RefreshTokenFamily.id).where(
            or_(
                RefreshTokenFamily.expires_at < now,
                RefreshTokenFamily.revoked_at < revoked_before,
            )
        )
        result = await self.session.execute(
            delete(RefreshToken).where(RefreshToken.family_id.in_(dead_families))
        )
        return result.rowcount or 0


class LoginEventDAO(BaseDAO[LoginEvent]):
    model = LoginEvent
    sortable = {"created_at": LoginEvent.created_at}
    default_sort = (LoginEvent.created_at.desc(), LoginEvent.id)

    async def record(
        self,
        *,
        email: str,
        success: bool,
        reason: str | None,
        user_id: uuid.UUID | None,
        ip: str | None,
        user_agent: str | None,
        kind: str = LoginKind.LOGIN,
    ) -> None:
        self.session.add(
            LoginEvent(
                email=email[:254],
                success=success,
                reason=reason,
                user_id=user_id,
                ip=ip,
                user_agent=user_agent,
                kind=kind,
            )
        )
        await self.session.flush()

    async def recent_account_failures(
        self, email: str, since: datetime, limit: int
    ) -> list[datetime]:
        """Newest-first times of wrong guesses on this email since the window start or the last
        successful login, whichever is later (a success resets the account counter)."""
        last_success = (
            select(func.max(LoginEvent.created_at))
            .where(
                LoginEvent.email == email, LoginEvent.kind == LoginKind.LOGIN, LoginEvent.success
            )
            .scalar_subquery()
        )
        stmt = (
            select(LoginEvent.created_at)
            .where(
                LoginEvent.email == email,
                LoginEvent.kind == LoginKind.LOGIN,
                LoginEvent.reason == GUESS_FAILURE,
                LoginEvent.created_at > func.greatest(since, last_success),
            )
            .order_by(LoginEvent.created_at.desc())
            .limit(limit)
        )
        return list((await self.session.execute(stmt)).scalars().all())

    async def recent_ip_failures(self, ip: str, since: datetime, limit: int) -> list[datetime]:
        """Newest-first times of wrong guesses from this address within the window."""
        stmt = (
            select(LoginEvent.created_at)
            .where(
                LoginEvent.ip == ip,
                LoginEvent.kind == LoginKind.LOGIN,
                LoginEvent.reason == GUESS_FAILURE,
                LoginEvent.created_at > since,
            )
            .order_by(LoginEvent.created_at.desc())
            .limit(limit)
        )
        return list((await self.session.execute(stmt)).scalars().all())

    async def failures_from_ip(self, kind: str, ip: str, since: datetime) -> int:
        stmt = select(func.count()).where(
            LoginEvent.kind == kind,
            LoginEvent.ip == ip,
            LoginEvent.success.is_(False),
            LoginEvent.created_at >= since,
        )
        return (await self.session.execute(stmt)).scalar_one()

    async def failures_of_user(self, kind: str, user_id: uuid.UUID, since: datetime) -> int:
        stmt = select(func.count()).where(
            LoginEvent.kind == kind,
            LoginEvent.user_id == user_id,
            LoginEvent.success.is_(False),
            LoginEvent.created_at >= since,
        )
        return (await self.session.execute(stmt)).scalar_one()

    async def purge(self, before: datetime) -> int:
        result = await self.session.execute(
            delete(LoginEvent).where(LoginEvent.created_at < before)
        )
        return result.rowcount or 0


class AuditNoteDAO(BaseDAO[AuditNote]):
    model = AuditNote

    async def note(self, *, actor_id: str, action: str, detail: str) -> AuditNote:
        return await self.create(actor_id=actor_id[:64], action=action, detail=detail)

    async def recent_for_user(self, user_id: uuid.UUID, limit: int = 50) -> list[AuditNote]:
        stmt = (
            select(AuditNote)
            .where(AuditNote.user_id == user_id)
            .order_by(AuditNote.created_at.desc(), AuditNote.id)
            .limit(limit)
        )
        return list((await self.session.execute(stmt)).scalars().all())
