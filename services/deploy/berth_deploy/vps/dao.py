"""Every query on VPSes, their operations and snapshots."""

import uuid
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Row, func, select, text, update

from berth_common.dao import BaseDAO
from berth_common.pagination import PageParams
from berth_deploy.vps.enums import SnapshotStatus, VpsStatus
from berth_deploy.vps.models import Vps, VpsOperation, VpsSnapshot

ACTIVE = ("queued", "running")


class VpsDAO(BaseDAO[Vps]):
    model = Vps
    sortable = {"created_at": Vps.created_at, "name": Vps.name, "status": Vps.status}
    default_sort = (Vps.created_at.desc(), Vps.id)
    not_found_message = "VPS not found"

    async def visible(self, vps_id: uuid.UUID, owner_id: uuid.UUID | None) -> Vps | None:
        """The VPS if it exists, is not deleted and (owner given) is that owner's."""
        stmt = select(Vps).where(Vps.id == vps_id, Vps.status != VpsStatus.DELETED)
        if owner_id is not None:
            stmt = stmt.where(Vps.owner_id == owner_id)
        return (await self.session.execute(stmt)).scalars().first()

    async def lock(self, vps_id: uuid.UUID) -> Vps | None:
        stmt = select(Vps).where(Vps.id == vps_id).with_for_update()
        result = await self.session.execute(stmt.execution_options(populate_existing=True))
        return result.scalars().first()

    async def search(
        self, params: PageParams, *, owner_id: uuid.UUID | None, status: str | None = None
    ) -> tuple[list[Vps], int]:
        where = [Vps.status != VpsStatus.DELETED]
        if owner_id is not None:
            where.append(Vps.owner_id == owner_id)
        if status is not None:
            where.append(Vps.status == status)
        return await self.list(params, *where)

    async def lock_owner(self, owner_id: uuid.UUID) -> None:
        """Until the transaction ends: one owner's VPSes are counted and ordered in turn."""
        await self.session.execute(
            text("SELECT pg_advisory_xact_lock(hashtext(:key))"),
            {"key": f"berth-deploy-owner-vps:{owner_id}"},
        )

    async def lock_ports(self, node: str) -> None:
        await self.session.execute(
            text("SELECT pg_advisory_xact_lock(hashtext(:key))"),
            {"key": f"berth-deploy-vps-ports:{node}"},
        )

    async def count_live(self, owner_id: uuid.UUID) -> int:
        stmt = select(func.count()).where(Vps.owner_id == owner_id, Vps.status != VpsStatus.DELETED)
        return (await self.session.execute(stmt)).scalar_one()

    async def name_in_use(self, owner_id: uuid.UUID, name: str) -> bool:
        found = await self.get_by(
            Vps.owner_id == owner_id, Vps.name == name, Vps.status != VpsStatus.DELETED
        )
        return found is not None

    async def ports_taken(self, node: str) -> set[int]:
        stmt = select(Vps.ssh_port).where(
            Vps.node == node, Vps.ssh_port.is_not(None), Vps.status != VpsStatus.DELETED
        )
        return {p for p in (await self.session.execute(stmt)).scalars()}

    async def count_on_node(self, node: str) -> int:
        stmt = select(func.count()).where(Vps.node == node, Vps.status != VpsStatus.DELETED)
        return (await self.session.execute(stmt)).scalar_one()

    async def on_node(self, node: str, statuses: Iterable[str]) -> list[Vps]:
        """The node's VPSes in these statuses, locked."""
        stmt = (
            select(Vps)
            .where(Vps.node == node, Vps.status.in_(list(statuses)))
            .order_by(Vps.id)
            .with_for_update()
        )
        return list((await self.session.execute(stmt)).scalars().all())

    async def database_now(self) -> datetime:
        return (await self.session.execute(select(func.now()))).scalar_one()

    async def meant_to_run_on(self, node: str) -> list[uuid.UUID]:
        stmt = select(Vps.id).where(
            Vps.node == node, Vps.status.in_([VpsStatus.RUNNING, VpsStatus.REBOOTING])
        )
        return list((await self.session.execute(stmt)).scalars())

    async def observed(self, ids: list[uuid.UUID], state: str) -> None:
        """The machines' state as their node's supervisor saw it now (the VPS's `updated_at`
        stays the owner's changes')."""
        await self.session.execute(
            update(Vps)
            .where(Vps.id.in_(ids))
            .values(observed_state=state, observed_at=func.now(), updated_at=Vps.updated_at)
        )

    async def used(self, vps_id: uuid.UUID, usage: dict[str, Any]) -> None:
        await self.session.execute(
            update(Vps)
            .where(Vps.id == vps_id)
            .values(observed_usage=usage, updated_at=Vps.updated_at)
        )

    async def of_owner(self, owner_id: uuid.UUID, statuses: Iterable[str]) -> list[Vps]:
        stmt = select(Vps).where(Vps.owner_id == owner_id, Vps.status.in_(list(statuses)))
        return list((await self.session.execute(stmt.order_by(Vps.created_at))).scalars().all())


class VpsOperationDAO(BaseDAO[VpsOperation]):
    model = VpsOperation
    sortable = {"created_at": VpsOperation.created_at}
    default_sort = (VpsOperation.created_at.desc(), VpsOperation.id)
    not_found_message = "Operation not found"

    async def of_vps_page(
        self, vps_id: uuid.UUID, params: PageParams
    ) -> tuple[list[VpsOperation], int]:
        return await self.list(params, VpsOperation.vps_id == vps_id)

    async def of_vps(self, vps_id: uuid.UUID, op_id: uuid.UUID) -> VpsOperation | None:
        return await self.get_by(VpsOperation.id == op_id, VpsOperation.vps_id == vps_id)

    async def lock(self, op_id: uuid.UUID) -> VpsOperation | None:
        stmt = select(VpsOperation).where(VpsOperation.id == op_id).with_for_update()
        result = await self.session.execute(stmt.execution_options(populate_existing=True))
        return result.scalars().first()

    async def active(self, vps_id: uuid.UUID) -> list[VpsOperation]:
        stmt = (
            select(VpsOperation)
            .where(VpsOperation.vps_id == vps_id, VpsOperation.status.in_(ACTIVE))
            .order_by(VpsOperation.created_at, VpsOperation.id)
        )
        return list((await self.session.execute(stmt)).scalars().all())

    async def next_queued(self, vps_id: uuid.UUID) -> VpsOperation | None:
        stmt = (
            select(VpsOperation)
            .where(VpsOperation.vps_id == vps_id, VpsOperation.status == "queued")
            .order_by(VpsOperation.created_at, VpsOperation.id)
            .limit(1)
            .with_for_update()
        )
        return (await self.session.execute(stmt)).scalars().first()

    async def renew_lease(
        self, op_id: uuid.UUID, owner: str, lease_seconds: int
    ) -> Row[tuple[uuid.UUID]] | None:
        t = VpsOperation.__table__
        stmt = (
            update(t)
            .where(t.c.id == op_id, t.c.lease_owner == owner, t.c.status == "running")
            .values(
                lease_expires_at=func.now() + timedelta(seconds=lease_seconds),
                heartbeat_at=func.now(),
            )
            .returning(t.c.id)
        )
        return (await self.session.execute(stmt)).first()

    async def set_step(self, op_id: uuid.UUID, owner: str, step: str) -> bool:
        t = VpsOperation.__table__
        stmt = (
            update(t)
            .where(t.c.id == op_id, t.c.lease_owner == owner, t.c.status == "running")
            .values(step=step)
            .returning(t.c.id)
        )
        return (await self.session.execute(stmt)).first() is not None

    async def expired(self, limit: int = 50) -> list[VpsOperation]:
        stmt = (
            select(VpsOperation)
            .where(VpsOperation.status == "running", VpsOperation.lease_expires_at < func.now())
            .order_by(VpsOperation.lease_expires_at)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        return list((await self.session.execute(stmt)).scalars().all())


class SnapshotDAO(BaseDAO[VpsSnapshot]):
    model = VpsSnapshot
    default_sort = (VpsSnapshot.created_at.desc(), VpsSnapshot.id)
    not_found_message = "Snapshot not found"

    async def of_vps(self, vps_id: uuid.UUID, snapshot_id: uuid.UUID) -> VpsSnapshot | None:
        return await self.get_by(
            VpsSnapshot.id == snapshot_id,
            VpsSnapshot.vps_id == vps_id,
            VpsSnapshot.status != SnapshotStatus.DELETED,
        )

    async def listed(self, vps_id: uuid.UUID) -> list[VpsSnapshot]:
        stmt = (
            select(VpsSnapshot)
            .where(VpsSnapshot.vps_id == vps_id, VpsSnapshot.status != SnapshotStatus.DELETED)
            .order_by(VpsSnapshot.created_at.desc(), VpsSnapshot.id)
        )
        return list((await self.session.execute(stmt)).scalars().all())

    async def count_kept(self, vps_id: uuid.UUID) -> int:
        stmt = select(func.count()).where(
            VpsSnapshot.vps_id == vps_id,
            VpsSnapshot.status.in_([SnapshotStatus.CREATING, SnapshotStatus.READY]),
        )
        return (await self.session.execute(stmt)).scalar_one()

    async def mark(self, snapshot_id: uuid.UUID, **values: object) -> None:
        await self.session.execute(
            update(VpsSnapshot).where(VpsSnapshot.id == snapshot_id).values(**values)
        )

    async def ready_at_now(self) -> datetime:
        return (await self.session.execute(select(func.now()))).scalar_one()


async def meant_to_run(session, limit: int = 5000) -> list[Vps]:
    """VPSes that should be running (monitoring asks whether their machines are)."""
    stmt = (
        select(Vps)
        .where(Vps.status.in_([VpsStatus.RUNNING, VpsStatus.REBOOTING]))
        .order_by(Vps.id)
        .limit(limit)
    )
    return list((await session.execute(stmt)).scalars().all())
