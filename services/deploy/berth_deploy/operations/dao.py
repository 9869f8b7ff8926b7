"""Queries on operations, releases and instances."""

import uuid
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Row, func, select, text, update

from berth_common.dao import BaseDAO
from berth_deploy.models import App, Instance, Operation, Release
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

    async def renew_lease(
        self, op_id: uuid.UUID, owner: str, lease_seconds: int, pgid: int | None
    ) -> Row[tuple[datetime | None, str | None, uuid.UUID]] | None:
        """(cancel requested at, cancel reason, app id) when `owner` still holds the lease."""
        t = Operation.__table__
        stmt = (
            update(t)
            .where(t.c.id == op_id, t.c.lease_owner == owner, t.c.status == "running")
            .values(
                lease_expires_at=func.now() + timedelta(seconds=lease_seconds),
                heartbeat_at=func.now(),
                step_pgid=pgid,
            )
            .returning(t.c.cancel_requested_at, t.c.cancel_reason, t.c.app_id)
        )
        return (await self.session.execute(stmt)).first()

    async def set_step(self, op_id: uuid.UUID, owner: str, step: str, **values: Any) -> bool:
        """False when `owner` no longer holds the lease."""
        t = Operation.__table__
        stmt = (
            update(t)
            .where(t.c.id == op_id, t.c.lease_owner == owner, t.c.status == "running")
            .values(step=step, **values)
            .returning(t.c.id)
        )
        return (await self.session.execute(stmt)).first() is not None

    async def lock_build_slots(self, node: str) -> None:
        """Until the transaction ends: the node's build slots are counted and taken in turn."""
        await self.session.execute(
            text("SELECT pg_advisory_xact_lock(hashtext(:key))"),
            {"key": f"berth-deploy-builds:{node}"},
        )

    async def builds_running(self, node: str, *, other_than: uuid.UUID) -> int:
        stmt = select(func.count()).where(
            Operation.status == "running",
            Operation.lease_node == node,
            Operation.step.in_(("clone", "build")),
            Operation.lease_expires_at > func.now(),
            Operation.id != other_than,
        )
        return (await self.session.execute(stmt)).scalar_one()

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

    async def by_ids(self, ids: Iterable[uuid.UUID]) -> list[Release]:
        stmt = select(Release).where(Release.id.in_(list(ids)))
        return list((await self.session.execute(stmt)).scalars().all())

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

    async def release_has_live(self, release_id: uuid.UUID) -> bool:
        stmt = select(func.count()).where(
            Instance.release_id == release_id, Instance.status.in_(LIVE_INSTANCE)
        )
        return (await self.session.execute(stmt)).scalar_one() > 0

    async def live_on_node_with_slugs(self, node: str) -> list[tuple[Instance, str]]:
        """This node's live instances, each with its app's slug."""
        stmt = (
            select(Instance, App.slug)
            .join(App, App.id == Instance.app_id)
            .where(Instance.node == node, Instance.status.in_(LIVE_INSTANCE))
        )
        return [(i, slug) for i, slug in (await self.session.execute(stmt)).all()]

    async def starting_for(self, op_id: uuid.UUID) -> list[Instance]:
        """Instances an operation was starting (an earlier, lost attempt of it)."""
        stmt = select(Instance).where(Instance.operation_id == op_id, Instance.status == "starting")
        return list((await self.session.execute(stmt)).scalars().all())

    async def ports_taken(self, node: str) -> set[int]:
        stmt = select(Instance.port).where(
            Instance.node == node, Instance.status.in_(LIVE_INSTANCE), Instance.port.is_not(None)
        )
        return {p for p in (await self.session.execute(stmt)).scalars().all() if p}
