"""Queries on instances: an app's running release processes, per node."""

import uuid
from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import func, select

from berth_common.dao import BaseDAO
from berth_deploy.enums import InstanceStatus
from berth_deploy.models import App, Instance, SupervisorBeat
from berth_deploy.operations.lifecycle import LIVE_INSTANCE, SERVING_INSTANCE


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
        stmt = select(Instance).where(
            Instance.operation_id == op_id, Instance.status == InstanceStatus.STARTING
        )
        return list((await self.session.execute(stmt)).scalars().all())

    async def made_live_by(self, op_id: uuid.UUID) -> Instance | None:
        """The instance an operation made live and that still serves (an earlier attempt of
        it got that far before its worker was lost)."""
        stmt = select(Instance).where(
            Instance.operation_id == op_id,
            Instance.started_at.is_not(None),
            Instance.status.in_(SERVING_INSTANCE),
        )
        return (await self.session.execute(stmt)).scalars().first()

    async def ports_taken(self, node: str) -> set[int]:
        stmt = select(Instance.port).where(
            Instance.node == node, Instance.status.in_(LIVE_INSTANCE), Instance.port.is_not(None)
        )
        return {p for p in (await self.session.execute(stmt)).scalars().all() if p}

    async def serving_page(
        self, after: uuid.UUID | None, limit: int
    ) -> list[tuple[Instance, uuid.UUID, datetime | None]]:
        """Instances that should be up (running or crashed, awaiting their restart), by id
        after `after`: each with its app's owner and its node supervisor's last tick."""
        stmt = (
            select(Instance, App.owner_id, SupervisorBeat.beat_at)
            .join(App, App.id == Instance.app_id)
            .outerjoin(SupervisorBeat, SupervisorBeat.node == Instance.node)
            .where(Instance.status.in_(SERVING_INSTANCE))
            .order_by(Instance.id)
            .limit(limit)
        )
        if after is not None:
            stmt = stmt.where(Instance.id > after)
        return [(i, owner, beat) for i, owner, beat in (await self.session.execute(stmt)).all()]

    async def database_now(self) -> datetime:
        """The database's clock: supervisor ticks are stamped with it."""
        return (await self.session.execute(select(func.now()))).scalar_one()
