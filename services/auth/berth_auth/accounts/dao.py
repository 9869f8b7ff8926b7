"""Queries of the account domain: users, codes, sessions (refresh families), login events,
outgoing emails, and the set-based purges the maintenance task runs."""

import uuid
from datetime import datetime

from sqlalchemy import delete, func, or_, select, update

from berth_auth.models import (
    LoginEvent,
    OutgoingEmail,
    RefreshToken,
    RefreshTokenFamily,
    User,
    VerificationCode,
)
from berth_common.dao import BaseDAO


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


class VerificationCodeDAO(BaseDAO[VerificationCode]):
    model = VerificationCode

    async def latest_open(self, user_id: uuid.UUID, purpose: str) -> VerificationCode | None:
        """The newest unconsumed code, locked so concurrent guesses count one by one."""
        stmt = (
            select(VerificationCode)
            .where(
                VerificationCode.user_id == user_id,
                VerificationCode.purpose == purpose,
                VerificationCode.consumed_at.is_(None),
            )
            .order_by(VerificationCode.created_at.desc())
            .limit(1)
            .with_for_update()
        )
        return (await self.session.execute(stmt)).scalars().first()

    async def last_issued_at(self, user_id: uuid.UUID, purpose: str) -> datetime | None:
        stmt = select(func.max(VerificationCode.created_at)).where(
            VerificationCode.user_id == user_id, VerificationCode.purpose == purpose
        )
        return (await self.session.execute(stmt)).scalar_one()

    async def delete_open(self, user_id: uuid.UUID, purpose: str) -> None:
        await self.session.execute(
            delete(VerificationCode).where(
                VerificationCode.user_id == user_id,
                VerificationCode.purpose == purpose,
                VerificationCode.consumed_at.is_(None),
            )
        )

    async def purge(self, before: datetime) -> int:
        result = await self.session.execute(
            delete(VerificationCode).where(
                or_(VerificationCode.expires_at < before, VerificationCode.consumed_at < before)
            )
        )
        return result.rowcount or 0


class RefreshFamilyDAO(BaseDAO[RefreshTokenFamily]):
    model = RefreshTokenFamily
    sortable = {"created_at": RefreshTokenFamily.created_at}
    default_sort = (RefreshTokenFamily.created_at.desc(), RefreshTokenFamily.id)
    not_found_message = "Session not found"

    async def get_for_user(
        self, family_id: uuid.UUID, user_id: uuid.UUID
    ) -> RefreshTokenFamily | None:
        return await self.get_by(
            RefreshTokenFamily.id == family_id, RefreshTokenFamily.user_id == user_id
        )

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


class OutgoingEmailDAO(BaseDAO[OutgoingEmail]):
    model = OutgoingEmail

    async def get_for_update(self, email_id: uuid.UUID) -> OutgoingEmail | None:
        stmt = select(OutgoingEmail).where(OutgoingEmail.id == email_id).with_for_update()
        return (await self.session.execute(stmt)).scalars().first()

    async def stale_pending(
        self, created_after: datetime, created_before: datetime, limit: int
    ) -> list[uuid.UUID]:
        stmt = (
            select(OutgoingEmail.id)
            .where(
                OutgoingEmail.status == "pending",
                OutgoingEmail.created_at > created_after,
                OutgoingEmail.created_at < created_before,
            )
            .order_by(OutgoingEmail.created_at)
            .limit(limit)
        )
        return list((await self.session.execute(stmt)).scalars().all())

    async def purge_delivered(self, before: datetime) -> int:
        result = await self.session.execute(
            delete(OutgoingEmail).where(
                OutgoingEmail.status.in_(("sent", "failed")), OutgoingEmail.created_at < before
            )
        )
        return result.rowcount or 0
