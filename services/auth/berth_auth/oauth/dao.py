"""Queries of the token endpoints on refresh tokens (users, families and login events are in
berth_auth.dao)."""

from datetime import datetime

from sqlalchemy import select, update

from berth_auth.models import RefreshToken
from berth_common.dao import BaseDAO


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
