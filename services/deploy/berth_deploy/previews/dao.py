"""Queries on preview apps: a parent's live previews, one branch's, the idle and orphaned."""

import uuid
from datetime import timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import aliased

from berth_common.dao import BaseDAO
from berth_deploy.enums import AppStatus, OperationKind
from berth_deploy.models import App, Operation

# a preview in these is gone or going: it neither counts against the cap nor is deleted again
GONE = (AppStatus.DELETING, AppStatus.DELETED)


class PreviewDAO(BaseDAO[App]):
    model = App

    async def live(self, parent_id: uuid.UUID) -> list[App]:
        """The parent's previews that are not deleted nor being deleted, oldest first."""
        stmt = (
            select(App)
            .where(App.parent_app_id == parent_id, App.status.not_in(GONE))
            .order_by(App.created_at, App.id)
        )
        return list((await self.session.execute(stmt)).scalars().all())

    async def count_live(self, parent_id: uuid.UUID) -> int:
        stmt = select(func.count()).where(App.parent_app_id == parent_id, App.status.not_in(GONE))
        return (await self.session.execute(stmt)).scalar_one()

    async def of_branch(self, parent_id: uuid.UUID, branch: str) -> App | None:
        """The branch's preview that is not deleted (it may be on its way out)."""
        return await self.get_by(
            App.parent_app_id == parent_id,
            App.preview_branch == branch,
            App.status != AppStatus.DELETED,
        )

    async def of_parent(self, parent_id: uuid.UUID, preview_id: uuid.UUID) -> App | None:
        return await self.get_by(
            App.id == preview_id,
            App.parent_app_id == parent_id,
            App.status != AppStatus.DELETED,
        )

    async def expired(self, limit: int = 100) -> list[uuid.UUID]:
        """Previews to delete: not deployed for their parent's preview_idle_days (a preview
        never deployed counts from its creation), or whose parent is gone or going."""
        parent = aliased(App)
        last_deploy = (
            select(func.max(Operation.created_at))
            .where(Operation.app_id == App.id, Operation.kind == OperationKind.DEPLOY)
            .correlate(App)
            .scalar_subquery()
        )
        idle_since = func.coalesce(last_deploy, App.created_at)
        idle_limit = func.now() - parent.preview_idle_days * timedelta(days=1)
        stmt = (
            select(App.id)
            .join(parent, parent.id == App.parent_app_id)
            .where(
                App.parent_app_id.is_not(None),
                App.status.not_in(GONE),
                (parent.status.in_(GONE)) | (idle_since < idle_limit),
            )
            .order_by(App.created_at)
            .limit(limit)
        )
        return list((await self.session.execute(stmt)).scalars().all())
