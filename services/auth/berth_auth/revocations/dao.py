"""The queries behind the revocation list: what was revoked recently enough to still matter."""

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from berth_auth.models import OAuthClient, RefreshTokenFamily, User


class RevocationDAO:
    """Reads across users, families and clients (no single model of its own)."""

    def __init__(self, session: AsyncSession):
        self.session = session

    async def sessions_revoked_since(self, since: datetime) -> list[tuple[str, datetime]]:
        stmt = select(RefreshTokenFamily.id, RefreshTokenFamily.revoked_at).where(
            RefreshTokenFamily.revoked_at > since
        )
        rows = (await self.session.execute(stmt)).all()
        return [(str(family_id), at) for family_id, at in rows]

    async def clients_revoked_since(self, since: datetime) -> list[tuple[str, datetime]]:
        stmt = select(OAuthClient.client_id, OAuthClient.revoked_at).where(
            OAuthClient.revoked_at > since
        )
        return [(client_id, at) for client_id, at in (await self.session.execute(stmt)).all()]

    async def users_not_before_since(self, since: datetime) -> list[tuple[str, datetime]]:
        stmt = select(User.id, User.tokens_not_before).where(User.tokens_not_before > since)
        return [(str(user_id), at) for user_id, at in (await self.session.execute(stmt)).all()]
