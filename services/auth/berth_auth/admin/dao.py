"""Queries of user administration: searching users, session counts (audit notes are in
berth_auth.dao)."""

import uuid

from sqlalchemy import func, or_, select

from berth_auth.dao import UserDAO
from berth_auth.models import RefreshTokenFamily, User
from berth_common.pagination import PageParams


def _like_pattern(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


class AdminUserDAO(UserDAO):
    sortable = {"created_at": User.created_at, "email": User.email}
    default_sort = (User.created_at.desc(), User.id)

    async def search(
        self,
        params: PageParams,
        *,
        q: str | None = None,
        role: str | None = None,
        blocked: bool | None = None,
        verified: bool | None = None,
    ) -> tuple[list[User], int]:
        where = []
        if q:
            pattern = _like_pattern(q)
            where.append(
                or_(User.email.ilike(pattern, escape="\\"), User.name.ilike(pattern, escape="\\"))
            )
        if role is not None:
            where.append(User.roles.contains([role]))
        if blocked is not None:
            where.append(User.is_blocked.is_(blocked))
        if verified is not None:
            where.append(
                User.email_verified_at.is_not(None)
                if verified
                else User.email_verified_at.is_(None)
            )
        return await self.list(params, *where)

    async def active_sessions(self, user_id: uuid.UUID) -> int:
        stmt = select(func.count()).where(
            RefreshTokenFamily.user_id == user_id,
            RefreshTokenFamily.revoked_at.is_(None),
            RefreshTokenFamily.expires_at > func.now(),
        )
        return (await self.session.execute(stmt)).scalar_one()
