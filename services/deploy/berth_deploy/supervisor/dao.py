"""The supervisor's queries: the instances it watches and routes on its node, and the
advisory lock that makes one supervisor per node the active one."""

from datetime import datetime
from typing import Any

from sqlalchemy import func, select, text
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection

from berth_common.dao import BaseDAO
from berth_deploy.enums import InstanceStatus
from berth_deploy.models import App, Instance, Operation, SupervisorBeat, Template
from berth_deploy.operations.lifecycle import LIVE_INSTANCE

WATCHED = (InstanceStatus.STARTING, InstanceStatus.RUNNING, InstanceStatus.CRASHED)


class SupervisedInstanceDAO(BaseDAO[Instance]):
    model = Instance

    async def watched(self, node: str) -> list[tuple[Any, ...]]:
        """This node's watched instances, with their app, template and operation's status."""
        stmt = (
            select(Instance, App, Template, Operation.status)
            .join(App, App.id == Instance.app_id)
            .join(Template, Template.key == App.template_key)
            .outerjoin(Operation, Operation.id == Instance.operation_id)
            .where(Instance.node == node, Instance.status.in_(WATCHED))
        )
        return [tuple(row) for row in (await self.session.execute(stmt)).all()]

    async def routed(self, node: str) -> list[tuple[Any, ...]]:
        """(slug, instance id, port, status) of this node's routed instances, oldest first."""
        stmt = (
            select(App.slug, Instance.id, Instance.port, Instance.status)
            .join(App, App.id == Instance.app_id)
            .where(
                Instance.node == node,
                Instance.routed.is_(True),
                Instance.status.in_(LIVE_INSTANCE),
            )
            .order_by(Instance.created_at)
        )
        return [tuple(row) for row in (await self.session.execute(stmt)).all()]

    async def ended_since(self, node: str, horizon: datetime) -> list[Instance]:
        """This node's instances that ended after `horizon` (by another node's operation, or
        while this node was down): their processes may still run here."""
        stmt = select(Instance).where(
            Instance.node == node,
            Instance.status.in_((InstanceStatus.STOPPED, InstanceStatus.FAILED)),
            Instance.stopped_at > horizon,
            Instance.pid.is_not(None),
        )
        return list((await self.session.execute(stmt)).scalars())


class SupervisorBeatDAO(BaseDAO[SupervisorBeat]):
    model = SupervisorBeat

    async def beat(self, node: str) -> None:
        stmt = insert(SupervisorBeat).values(node=node, beat_at=func.now())
        stmt = stmt.on_conflict_do_update(
            index_elements=[SupervisorBeat.node], set_={"beat_at": func.now()}
        )
        await self.session.execute(stmt)


# process edge: the lock lives on the supervisor's own connection, outside any session
async def try_leadership_lock(conn: AsyncConnection, node: str) -> bool:
    got = (
        await conn.execute(
            text("SELECT pg_try_advisory_lock(hashtext(:key))"),
            {"key": f"berth-deploy-supervisor:{node}"},
        )
    ).scalar()
    await conn.commit()  # edge: the supervisor's own advisory-lock connection
    return bool(got)


async def ping(conn: AsyncConnection) -> None:
    """Fails when the lock's connection is gone (and the lock with it)."""
    await conn.execute(text("SELECT 1"))
