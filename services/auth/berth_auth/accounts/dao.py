"""Queries of the account domain: verification codes, outgoing emails and their purges (users,
sessions and login events are in berth_auth.dao)."""

import uuid
from datetime import datetime

from sqlalchemy import delete, func, or_, select

from berth_auth.models import OutgoingEmail, VerificationCode
from berth_common import mail
from berth_common.dao import BaseDAO


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


class OutgoingEmailDAO(mail.OutgoingEmailDAO[OutgoingEmail]):
    model = OutgoingEmail
