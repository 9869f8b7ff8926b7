"""Leases on running VPS operations, like app operations' (operations/leases.py): taking the
VPS's next operation, the heartbeat that keeps it, finishing it, and reaping the ones whose
worker stopped beating. Each function is one short transaction (`fn(session, ...)`)."""

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from loguru import logger
from sqlalchemy.ext.asyncio import AsyncSession

from berth_deploy.enums import OperationStatus
from berth_deploy.events import STOPPED
from berth_deploy.operations.leases import LeaseLost
from berth_deploy.vps.dao import SnapshotDAO, VpsDAO, VpsOperationDAO
from berth_deploy.vps.enums import SnapshotStatus, VpsOperationKind, VpsStatus
from berth_deploy.vps.events import boot_ended
from berth_deploy.vps.models import Vps, VpsOperation
from berth_deploy.vps.service import dispatch, set_status

VPS_FIELDS = (
    "id", "owner_id", "name", "plan", "kind", "image", "status", "suspended_by", "vcpus",
    "memory_mb", "disk_gb", "ssh_public_key", "node", "ssh_port", "run_uid", "boot_id",
)  # fmt: skip


@dataclass(frozen=True)
class VpsClaim:
    op_id: uuid.UUID
    kind: str
    attempt: int
    origin: str
    params: dict[str, Any]
    reason: str | None
    status_before: str | None
    vps: dict[str, Any]


async def acquire(
    session: AsyncSession, *, vps_id: uuid.UUID, owner: str, node: str, lease_seconds: int
) -> VpsClaim | None:
    """Lease the VPS's oldest queued operation, unless another one holds the VPS."""
    vps = await VpsDAO(session).lock(vps_id)
    if vps is None:
        return None
    if vps.node != node:  # its disk is on another node (a message from before nodes): there
        logger.bind(vps_id=str(vps_id)).warning("vps is on node {}: sent there", vps.node)
        await dispatch(session, vps)
        return None
    ops = VpsOperationDAO(session)
    if vps.active_operation_id is not None:
        holder = await ops.get(vps.active_operation_id)
        if holder is not None and holder.status == OperationStatus.RUNNING:
            return None
        vps.active_operation_id = None
    op = await ops.next_queued(vps.id)
    if op is None:
        return None
    now = datetime.now(UTC)
    op.status = OperationStatus.RUNNING
    op.attempt += 1
    op.lease_owner, op.lease_node = owner, node
    op.lease_expires_at = now + timedelta(seconds=lease_seconds)
    op.heartbeat_at = now
    op.started_at = op.started_at or now
    vps.active_operation_id = op.id
    await session.flush()
    return VpsClaim(
        op_id=op.id,
        kind=op.kind,
        attempt=op.attempt,
        origin=op.origin,
        params=dict(op.params),
        reason=op.reason,
        status_before=op.vps_status_before,
        vps={f: getattr(vps, f) for f in VPS_FIELDS},
    )


async def heartbeat(session: AsyncSession, *, op_id: uuid.UUID, owner: str, lease_seconds: int):
    if await VpsOperationDAO(session).renew_lease(op_id, owner, lease_seconds) is None:
        raise LeaseLost(str(op_id))


async def set_step(session: AsyncSession, *, op_id: uuid.UUID, owner: str, step: str) -> None:
    if not await VpsOperationDAO(session).set_step(op_id, owner, step[:32]):
        raise LeaseLost(str(op_id))


async def _settle_failed(session: AsyncSession, vps: Vps, op: VpsOperation, reason: str, state):
    """Where a failed operation leaves the VPS: what the machine really is (`state`, the
    driver's word, None when it could not tell); a machine that does not run is not billed."""
    snapshot_id = op.params.get("snapshot_id")
    if op.kind == VpsOperationKind.SNAPSHOT and snapshot_id:
        await SnapshotDAO(session).mark(
            uuid.UUID(snapshot_id), status=SnapshotStatus.FAILED, error=reason[:500]
        )
    if op.kind == VpsOperationKind.DELETE_SNAPSHOT and snapshot_id:
        await SnapshotDAO(session).mark(uuid.UUID(snapshot_id), status=SnapshotStatus.READY)
    if vps.status in (VpsStatus.DELETED, VpsStatus.SUSPENDED):
        return
    if state == "running" and op.kind not in (VpsOperationKind.CREATE, VpsOperationKind.REINSTALL):
        set_status(vps, VpsStatus.RUNNING, f"{op.kind} failed: {reason}")
        return
    if state != "running":
        await boot_ended(session, STOPPED, vps, f"failed: {reason}"[:200])
    if state == "stopped" and op.kind not in (VpsOperationKind.CREATE, VpsOperationKind.REINSTALL):
        set_status(vps, VpsStatus.STOPPED, f"{op.kind} failed: {reason}")
        return
    set_status(vps, VpsStatus.FAILED, f"{op.kind} failed: {reason}")


async def _close(
    session: AsyncSession,
    op: VpsOperation,
    vps: Vps,
    status: str,
    reason: str | None,
    state: str | None,
) -> None:
    op.status = status
    op.reason = reason[:1000] if reason else op.reason
    op.finished_at = datetime.now(UTC)
    op.lease_owner = None
    op.lease_expires_at = None
    if status != OperationStatus.SUCCEEDED:
        await _settle_failed(session, vps, op, reason or status, state)
    if vps.active_operation_id == op.id:
        vps.active_operation_id = None
    if await VpsOperationDAO(session).next_queued(vps.id) is not None:
        await dispatch(session, vps)


async def finish(
    session: AsyncSession,
    *,
    op_id: uuid.UUID,
    owner: str,
    status: str,
    reason: str | None,
    state: str | None = None,
) -> None:
    vps_id = (await VpsOperationDAO(session).get_or_404(op_id)).vps_id
    vps = await VpsDAO(session).lock(vps_id)
    op = await VpsOperationDAO(session).lock(op_id)
    if vps is None or op is None or op.lease_owner != owner or op.status != OperationStatus.RUNNING:
        raise LeaseLost(str(op_id))
    await _close(session, op, vps, status, reason, state)
    await session.flush()


async def reap_expired(session: AsyncSession, *, max_attempts: int) -> list[uuid.UUID]:
    """Operations whose worker stopped renewing its lease: queued again for another try (the
    flows are written to be re-run), or failed with a reason after `max_attempts`."""
    reaped = []
    for op in await VpsOperationDAO(session).expired():
        vps = await VpsDAO(session).lock(op.vps_id)
        assert vps is not None
        silent = (
            int((datetime.now(UTC) - op.heartbeat_at).total_seconds()) if op.heartbeat_at else 0
        )
        step = op.step or "its first step"
        lost = f"the worker running it was lost during {step} (no heartbeat for {silent}s)"
        reaped.append(op.id)
        if op.attempt < max_attempts:
            op.status = OperationStatus.QUEUED
            op.reason = f"{lost}; retrying (attempt {op.attempt + 1} of {max_attempts})"
            op.lease_owner = None
            op.lease_expires_at = None
            if vps.active_operation_id == op.id:
                vps.active_operation_id = None
            await dispatch(session, vps)
        else:
            failure = f"{lost}; gave up after {op.attempt} attempt(s)"
            await _close(session, op, vps, OperationStatus.FAILED, failure, None)
        logger.bind(vps_id=str(vps.id), operation_id=str(op.id)).warning("reaped: {}", lost)
    await session.flush()
    return reaped
