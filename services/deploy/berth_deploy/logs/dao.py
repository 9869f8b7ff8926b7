"""Queries on the live log streams people hold open."""

import uuid
from datetime import timedelta

from sqlalchemy import delete, func, select, text, update

from berth_common.dao import BaseDAO
from berth_deploy.models import LogStream


class LogStreamDAO(BaseDAO[LogStream]):
    model = LogStream

    async def lock_viewer(self, viewer: str) -> None:
        """Until the transaction ends: one viewer's streams are counted and added in turn."""
        await self.session.execute(
            text("SELECT pg_advisory_xact_lock(hashtext(:key))"),
            {"key": f"berth-deploy-log-streams:{viewer}"},
        )

    async def purge_expired(self, batch: int = 100) -> None:
        """Claims that lapsed (their process died): anyone's, skipping rows others hold."""
        lapsed = (
            select(LogStream.id)
            .where(LogStream.expires_at <= func.now())
            .limit(batch)
            .with_for_update(skip_locked=True)
        )
        await self.session.execute(delete(LogStream).where(LogStream.id.in_(lapsed)))

    async def open_count(self, viewer: str) -> int:
        stmt = select(func.count()).where(
            LogStream.viewer == viewer, LogStream.expires_at > func.now()
        )
        return (await self.session.execute(stmt)).scalar_one()

    async def open(self, viewer: str, app_id: uuid.UUID, lease: timedelta) -> uuid.UUID:
        row = await self.create(viewer=viewer, app_id=app_id, expires_at=func.now() + lease)
        return row.id

    async def renew(self, stream_id: uuid.UUID, lease: timedelta) -> bool:
        """False when the claim is gone (it lapsed and was purged)."""
        stmt = (
            update(LogStream)
            .where(LogStream.id == stream_id, LogStream.expires_at > func.now())
            .values(expires_at=func.now() + lease)
            .returning(LogStream.id)
        )
        return (await self.session.execute(stmt)).first() is not None

    async def close(self, stream_id: uuid.UUID) -> None:
        await self.session.execute(delete(LogStream).where(LogStream.id == stream_id))
