"""Queries of the token endpoints: users, refresh-token families and tokens, login events."""

import uuid
from datetime import datetime

from sqlalchemy import func, select, update

from berth_auth.models import LoginEvent, RefreshToken, RefreshTokenFamily, User
from berth_common.dao import BaseDAO

# Only wrong guesses count towards brute-force limits (not throttled or blocked attempts).
GUESS_FAILURE = "invalid_credentials"


class UserDAO(BaseDAO[User]):
    model = User

    async def get_by_email(self, email: str) -> User | None:
        return await self.get_by(User.email == email)


class RefreshFamilyDAO(BaseDAO[RefreshTokenFamily]):
    model = RefreshTokenFamily

    async def get_for_update(self, family_id: uuid.UUID) -> RefreshTokenFamily | None:
        """Every change to a family and its tokens happens under this row lock."""
        stmt = (
            select(RefreshTokenFamily)
            .where(RefreshTokenFamily.id == family_id)
            .with_for_update()
            .execution_options(populate_existing=True)
        )
        return (await self.session.execute(stmt)).scalars().first()

    async def revoke(self, family: RefreshTokenFamily, *, reason: str, at: datetime) -> None:
        if family.revoked_at is None:
            family.revoked_at = at
            family.revoked_reason = reason
            await self.session.flush()


class RefreshTokenDAO(BaseDAO[RefreshToken]):
    model = RefreshToken

    async def get_by_hash(self, token_hash: str, *, fresh: bool = False) -> RefreshToken | None:
        stmt = select(RefreshToken).where(RefreshToken.token_hash == token_hash).limit(1)
        if fresh:  # re-read after taking the family lock
            stmt = stmt.execution_options(populate_existing=True)
        return (await self.session.execute(stmt)).scalars().first()

    async def mark_used(self, token: RefreshToken, at: datetime) -> bool:
        """Conditional: a token is rotated at most once even if two requests race past a check."""
        result = await self.session.execute(
            update(RefreshToken)
            .where(RefreshToken.id == token.id, RefreshToken.used_at.is_(None))
            .values(used_at=at)
            .returning(RefreshToken.id)
            .execution_options(synchronize_session=False)
        )
        marked = result.first() is not None
        if marked:
            token.used_at = at
        return marked


class LoginEventDAO(BaseDAO[LoginEvent]):
    model = LoginEvent

    async def record(
        self,
        *,
        email: str,
        success: bool,
        reason: str | None,
        user_id: uuid.UUID | None,
        ip: str | None,
        user_agent: str | None,
        kind: str = "login",
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
            .where(LoginEvent.email == email, LoginEvent.kind == "login", LoginEvent.success)
            .scalar_subquery()
        )
        stmt = (
            select(LoginEvent.created_at)
            .where(
                LoginEvent.email == email,
                LoginEvent.kind == "login",
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
                LoginEvent.kind == "login",
                LoginEvent.reason == GUESS_FAILURE,
                LoginEvent.created_at > since,
            )
            .order_by(LoginEvent.created_at.desc())
            .limit(limit)
        )
        return list((await self.session.execute(stmt)).scalars().all())
