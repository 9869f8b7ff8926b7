"""What a running VPS operation writes as it goes (one short transaction each): the statuses
it moves the VPS through, its boots' billed intervals, its snapshots' outcomes."""

import uuid
from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncSession

from berth_deploy.events import DELETED, STOPPED, SUSPENDED
from berth_deploy.vps.dao import SnapshotDAO, VpsDAO
from berth_deploy.vps.enums import HOLDS_MEMORY, SnapshotStatus, VpsStatus
from berth_deploy.vps.events import boot_ended, boot_started
from berth_deploy.vps.models import Vps
from berth_deploy.vps.service import set_status

# why an interval ended, as monitoring reads it: an owner's or admin's stop is not an outage
STOP_REASONS = {"user": "stopped by user", "admin": "stopped by admin", "billing": "suspended"}


async def _locked(session: AsyncSession, vps_id: uuid.UUID) -> Vps:
    vps = await VpsDAO(session).lock(vps_id)
    assert vps is not None  # deletes go through an operation: the row is there
    return vps


async def moved(session: AsyncSession, *, vps_id: uuid.UUID, status: str) -> None:
    vps = await _locked(session, vps_id)
    if vps.status not in (VpsStatus.DELETING, VpsStatus.DELETED):
        set_status(vps, status)


async def kind_is(session: AsyncSession, *, vps_id: uuid.UUID, kind: str) -> None:
    vps = await _locked(session, vps_id)
    vps.kind = kind


async def running(session: AsyncSession, *, vps_id: uuid.UUID, ssh_host: str) -> None:
    """The machine answers SSH: running, and billed from now if no boot is billed yet."""
    vps = await _locked(session, vps_id)
    if vps.boot_id is None:
        await boot_started(session, vps, ssh_host=ssh_host)
    if vps.status != VpsStatus.DELETING:
        set_status(vps, VpsStatus.RUNNING)
    vps.suspended_by = None


async def stopped(
    session: AsyncSession, *, vps_id: uuid.UUID, origin: str, suspended: bool, reason: str | None
) -> None:
    """The machine is down: stopped (or suspended, remembering by whom); its interval ends."""
    vps = await _locked(session, vps_id)
    if suspended:
        await boot_ended(session, SUSPENDED, vps, reason or "suspended")
        if vps.status != VpsStatus.DELETING:
            set_status(vps, VpsStatus.SUSPENDED, reason)
            vps.suspended_by = origin
        return
    await boot_ended(session, STOPPED, vps, STOP_REASONS.get(origin, "stopped"))
    if vps.status != VpsStatus.DELETING:
        set_status(vps, VpsStatus.STOPPED)


async def resized(
    session: AsyncSession, *, vps_id: uuid.UUID, vcpus: int, memory_mb: int, disk_gb: int
) -> None:
    vps = await _locked(session, vps_id)
    vps.vcpus, vps.memory_mb, vps.disk_gb = vcpus, memory_mb, disk_gb


async def snapshot_ready(session: AsyncSession, *, snapshot_id: uuid.UUID, size: int) -> None:
    await SnapshotDAO(session).mark(
        snapshot_id, status=SnapshotStatus.READY, size_bytes=size, ready_at=datetime.now(UTC)
    )


async def snapshot_deleted(session: AsyncSession, *, snapshot_id: uuid.UUID) -> None:
    await SnapshotDAO(session).mark(snapshot_id, status=SnapshotStatus.DELETED)


async def snapshot_names(session: AsyncSession, *, vps_id: uuid.UUID) -> list[str]:
    return [s.machine_name for s in await SnapshotDAO(session).listed(vps_id)]


async def deleted(session: AsyncSession, *, vps_id: uuid.UUID) -> None:
    vps = await _locked(session, vps_id)
    await boot_ended(session, DELETED, vps, "deleted")
    for snapshot in await SnapshotDAO(session).listed(vps_id):
        snapshot.status = SnapshotStatus.DELETED
    set_status(vps, VpsStatus.DELETED)
    vps.deleted_at = datetime.now(UTC)


async def lost_with_node(session: AsyncSession, *, node: str, reason: str) -> int:
    """A down node's VPSes cannot move (their disks are there): those whose machines ran are
    stopped, saying why, and their billed intervals end ("node_down", as for app instances).
    A delete or other operation queued for them waits on the node's queue for its return.
    How many were stopped."""
    stopped = 0
    for vps in await VpsDAO(session).on_node(node, (*HOLDS_MEMORY, VpsStatus.FAILED)):
        if vps.status == VpsStatus.FAILED and vps.boot_id is None:
            continue
        await boot_ended(session, STOPPED, vps, "node_down")
        if vps.status != VpsStatus.FAILED:
            set_status(vps, VpsStatus.STOPPED, f"{reason}; start it when the node is back")
        stopped += 1
    return stopped
