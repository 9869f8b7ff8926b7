"""Queries on apps: owner-scoped lookups, row locks for state changes, searches."""

import uuid
from collections.abc import Iterable
from datetime import datetime, timedelta

from sqlalchemy import func, or_, select, text

from berth_common.dao import BaseDAO
from berth_common.pagination import PageParams
from berth_deploy.enums import AppStatus
from berth_deploy.models import App, Template


def like_pattern(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


class AppDAO(BaseDAO[App]):
    model = App
    sortable = {
        "created_at": App.created_at,
        "updated_at": App.updated_at,
        "slug": App.slug,
        "name": App.name,
        "status": App.status,
    }
    default_sort = (App.created_at.desc(), App.id)
    not_found_message = "App not found"

    async def visible(self, app_id: uuid.UUID, owner_id: uuid.UUID | None) -> App | None:
        """The app if it exists, is not deleted, and (owner given) belongs to that owner."""
        stmt = select(App).where(App.id == app_id, App.status != AppStatus.DELETED)
        if owner_id is not None:
            stmt = stmt.where(App.owner_id == owner_id)
        return (await self.session.execute(stmt)).scalars().first()

    async def lock(self, app_id: uuid.UUID) -> App | None:
        """The app row, locked until the transaction ends (state changes serialise on it)."""
        stmt = select(App).where(App.id == app_id).with_for_update()
        result = await self.session.execute(stmt.execution_options(populate_existing=True))
        return result.scalars().first()

    async def status_of(self, app_id: uuid.UUID) -> str | None:
        return (await self.session.execute(select(App.status).where(App.id == app_id))).scalar()

    async def slug_in_use(self, slug: str) -> bool:
        return await self.get_by(App.slug == slug, App.status != AppStatus.DELETED) is not None

    async def slug_held(self, slug: str, hold: timedelta, for_owner: uuid.UUID) -> datetime | None:
        """When the slug is free for `for_owner` again, if another owner deleted an app of
        that slug less than `hold` ago (by the database's clock)."""
        stmt = select(func.max(App.deleted_at)).where(
            App.slug == slug,
            App.status == AppStatus.DELETED,
            App.owner_id != for_owner,
            App.deleted_at > func.now() - hold,
        )
        deleted_at = (await self.session.execute(stmt)).scalar()
        return deleted_at + hold if deleted_at is not None else None

    async def search(
        self,
        params: PageParams,
        *,
        owner_id: uuid.UUID | None = None,
        status: str | None = None,
        template: str | None = None,
        q: str | None = None,
    ) -> tuple[list[App], int]:
        where = [App.status != AppStatus.DELETED]
        if owner_id is not None:
            where.append(App.owner_id == owner_id)
        if status is not None:
            where.append(App.status == status)
        if template is not None:
            where.append(App.template_key == template)
        if q:
            pattern = like_pattern(q)
            where.append(
                or_(App.slug.ilike(pattern, escape="\\"), App.name.ilike(pattern, escape="\\"))
            )
        return await self.list(params, *where)

    async def lock_owner(self, owner_id: uuid.UUID) -> None:
        """Until the transaction ends: one owner's apps are counted and created in turn."""
        await self.session.execute(
            text("SELECT pg_advisory_xact_lock(hashtext(:key))"),
            {"key": f"berth-deploy-owner-apps:{owner_id}"},
        )

    async def count_on_plan(self, owner_id: uuid.UUID, plan_key: str) -> int:
        """The owner's apps (not deleted) whose template is billed on `plan_key`; preview apps
        are not counted (they are capped per app, DEPLOY_PREVIEWS_PER_APP)."""
        stmt = (
            select(func.count())
            .select_from(App)
            .join(Template, Template.key == App.template_key)
            .where(
                App.owner_id == owner_id,
                App.status != AppStatus.DELETED,
                App.parent_app_id.is_(None),
                Template.plan_key == plan_key,
            )
        )
        return (await self.session.execute(stmt)).scalar_one()

    async def of_owner(self, owner_id: uuid.UUID, statuses: Iterable[str]) -> list[App]:
        stmt = select(App).where(App.owner_id == owner_id, App.status.in_(list(statuses)))
        return list((await self.session.execute(stmt.order_by(App.created_at))).scalars().all())
