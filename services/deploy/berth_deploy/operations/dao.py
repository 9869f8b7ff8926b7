"""Queries on operations, releases and instances."""

import uuid
from collections.abc import Iterable

from sqlalchemy import func, select

from berth_common.dao import BaseDAO
from berth_deploy.models import Instance, Operation, Release
from berth_deploy.operations.lifecycle import ACTIVE_OPERATION, LIVE_INSTANCE


class OperationDAO(BaseDAO[Operation]):
    model = Operation
    sortable = {"created_at": Operation.created_at}
    default_sort = (Operation.created_at.desc(), Operation.id)
    not_found_message = "Operation not found"

    async def of_app(self, app_id: uuid.UUID, op_id: uuid.UUID) -> Operation | None:
        return await self.get_by(Operation.id == op_id, Operation.app_id == app_id)

    async def lock(self, op_id: uuid.UUID) -> Operation | None:
        stmt = select(Operation).where(Operation.id == op_id).with_for_update()
        result = await self.session.execute(stmt.execution_options(populate_existing=True))
        return result.scalars().first()

    async def active(self, app_id: uuid.UUID) -> list[Operation]:
        stmt = (
            select(Operation)
            .where(Operation.app_id == app_id, Operation.status.in_(ACTIVE_OPERATION))
            .order_by(Operation.created_at, Operation.id)
        )
        return list((await self.session.execute(stmt)).scalars().all())

    async def next_queued(self, app_id: uuid.UUID) -> Operation | None:
        stmt = (
            select(Operation)
            .where(Operation.app_id == app_id, Operation.status == "queued")
            .order_by(Operation.created_at, Operation.id)
            .limit(1)
            .with_for_update()
        )
        return (await self.session.execute(stmt)).scalars().first()

    async def expired(self, limit: int = 50) -> list[Operation]:
        stmt = (
            select(Operation)
            .where(Operation.status == "running", Operation.lease_expires_at < func.now())
            .order_by(Operation.lease_expires_at)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        return list((await self.session.execute(stmt)).scalars().all())


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

    async def ready(self, app_id: uuid.UUID) -> list[Release]:
        stmt = (
            select(Release)
            .where(Release.app_id == app_id, Release.status == "ready")
            .order_by(Release.number.desc())
        )
        return list((await self.session.execute(stmt)).scalars().all())


class InstanceDAO(BaseDAO[Instance]):
    model = Instance
    default_sort = (Instance.created_at.desc(),)

    async def lock(self, instance_id: uuid.UUID) -> Instance | None:
        stmt = select(Instance).where(Instance.id == instance_id).with_for_update()
        result = await self.session.execute(stmt.execution_options(populate_existing=True))
        return result.scalars().first()

    async def live(
        self, app_id: uuid.UUID, statuses: Iterable[str] = LIVE_INSTANCE
    ) -> list[Instance]:
        stmt = (
            select(Instance)
            .where(Instance.app_id == app_id, Instance.status.in_(list(statuses)))
            .order_by(Instance.created_at)
        )
        return list((await self.session.execute(stmt)).scalars().all())

    async def recent(self, app_id: uuid.UUID, limit: int = 10) -> list[Instance]:
        stmt = (
            select(Instance)
            .where(Instance.app_id == app_id)
            .order_by(Instance.created_at.desc())
            .limit(limit)
        )
        return list((await self.session.execute(stmt)).scalars().all())

    async def on_node(self, node: str, statuses: Iterable[str]) -> list[Instance]:
        stmt = select(Instance).where(Instance.node == node, Instance.status.in_(list(statuses)))
        return list((await self.session.execute(stmt)).scalars().all())

    async def ports_taken(self, node: str) -> set[int]:
        stmt = select(Instance.port).where(
            Instance.node == node, Instance.status.in_(LIVE_INSTANCE), Instance.port.is_not(None)
        )
        return {p for p in (await self.session.execute(stmt)).scalars().all() if p}
