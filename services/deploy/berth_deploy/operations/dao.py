"""Queries on operations: the per-app queue, leases, build slots."""

import uuid
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Row, func, select, text, update

from berth_common.dao import BaseDAO
from berth_common.pagination import PageParams
from berth_deploy.enums import OperationStatus, OperationStep
from berth_deploy.models import Operation
from berth_deploy.operations.lifecycle import ACTIVE_OPERATION, BUILD_STEPS


class OperationDAO(BaseDAO[Operation]):
    model = Operation
    sortable = {"created_at": Operation.created_at}
    default_sort = (Operation.created_at.desc(), Operation.id)
    not_found_message = "Operation not found"

    async def of_app(self, app_id: uuid.UUID, op_id: uuid.UUID) -> Operation | None:
        return await self.get_by(Operation.id == op_id, Operation.app_id == app_id)

    async def of_app_page(
        self, app_id: uuid.UUID, params: PageParams, kinds: Iterable[str] | None
    ) -> tuple[list[Operation], int]:
        """One page of the app's operations, of `kinds` only when given."""
        where = [Operation.app_id == app_id]
        if kinds is not None:
            where.append(Operation.kind.in_(list(kinds)))
        return await self.list(params, *where)

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
            .where(Operation.app_id == app_id, Operation.status == OperationStatus.QUEUED)
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
            .where(t.c.id == op_id, t.c.lease_owner == owner, t.c.status == OperationStatus.RUNNING)
            .values(
                lease_expires_at=func.now() + timedelta(seconds=lease_seconds),
                heartbeat_at=func.now(),
                step_pgid=pgid,
            )
            .returning(t.c.cancel_requested_at, t.c.cancel_reason, t.c.app_id)
        )
        return (await self.session.execute(stmt)).first()

    async def set_step(
        self, op_id: uuid.UUID, owner: str, step: OperationStep, **values: Any
    ) -> bool:
        """False when `owner` no longer holds the lease."""
        t = Operation.__table__
        stmt = (
            update(t)
            .where(t.c.id == op_id, t.c.lease_owner == owner, t.c.status == OperationStatus.RUNNING)
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
            Operation.status == OperationStatus.RUNNING,
            Operation.lease_node == node,
            Operation.step.in_(BUILD_STEPS),
            Operation.lease_expires_at > func.now(),
            Operation.id != other_than,
        )
        return (await self.session.execute(stmt)).scalar_one()

    async def expired(self, limit: int = 50) -> list[Operation]:
        stmt = (
            select(Operation)
            .where(
                Operation.status == OperationStatus.RUNNING, Operation.lease_expires_at < func.now()
            )
            .order_by(Operation.lease_expires_at)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        return list((await self.session.execute(stmt)).scalars().all())
