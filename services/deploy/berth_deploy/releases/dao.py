"""Queries on releases: an app's builds, numbered."""

import uuid
from collections.abc import Iterable

from sqlalchemy import func, select

from berth_common.dao import BaseDAO
from berth_deploy.enums import ReleaseStatus
from berth_deploy.models import Release


class ReleaseDAO(BaseDAO[Release]):
    model = Release
    sortable = {"number": Release.number, "created_at": Release.created_at}
    default_sort = (Release.number.desc(),)
    not_found_message = "Release not found"

    async def of_app(self, app_id: uuid.UUID, release_id: uuid.UUID) -> Release | None:
        return await self.get_by(Release.id == release_id, Release.app_id == app_id)

    async def next_number(self, app_id: uuid.UUID) -> int:
        stmt = select(func.coalesce(func.max(Release.number), 0)).where(Release.app_id == app_id)
        return (await self.session.execute(stmt)).scalar_one() + 1

    async def latest(self, app_id: uuid.UUID) -> Release | None:
        stmt = select(Release).where(Release.app_id == app_id).order_by(Release.number.desc())
        return (await self.session.execute(stmt.limit(1))).scalars().first()

    async def by_ids(self, ids: Iterable[uuid.UUID]) -> list[Release]:
        stmt = select(Release).where(Release.id.in_(list(ids)))
        return list((await self.session.execute(stmt)).scalars().all())

    async def ready(self, app_id: uuid.UUID) -> list[Release]:
        stmt = (
            select(Release)
            .where(Release.app_id == app_id, Release.status == ReleaseStatus.READY)
            .order_by(Release.number.desc())
        )
        return list((await self.session.execute(stmt)).scalars().all())
