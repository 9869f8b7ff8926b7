"""Ordering a VPS and asking for its operations: the state checks, the quota, the per-VPS
queue and the task that runs it. One operation runs at a time per VPS: delete, suspend and
resume queue behind the running one (a delete supersedes what is queued); everything else
needs the VPS idle (409 otherwise). A suspended owner's VPSes start nothing."""

import uuid
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from berth_common.errors import Conflict, NotFound, ServiceUnavailable, Unprocessable
from berth_common.outbox import enqueue_task
from berth_common.pagination import PageParams
from berth_deploy.config import DeploySettings
from berth_deploy.enums import NodeStatus, OperationOrigin, OperationStatus
from berth_deploy.models import OwnerStanding
from berth_deploy.names import VPS_RUN_TASK, node_queue
from berth_deploy.nodes.dao import NodeDAO
from berth_deploy.nodes.models import Node
from berth_deploy.nodes.placement import place_vps, vps_ports
from berth_deploy.operations.lifecycle import (
    AccountSuspended,
    IllegalTransition,
    OperationInProgress,
)
from berth_deploy.sandbox.ports import pick_port
from berth_deploy.vps.dao import SnapshotDAO, VpsDAO, VpsOperationDAO
from berth_deploy.vps.enums import (
    ALLOWED_FROM,
    STATUS_ON_REQUEST,
    SnapshotStatus,
    VpsOperationKind,
    VpsStatus,
)
from berth_deploy.vps.models import Vps, VpsOperation, VpsSnapshot
from berth_deploy.vps.plans import plan_of
from berth_deploy.vps.schemas import ResizeRequest, VpsCreate

# kinds that (re)start the machine: refused while billing suspends the owner
STARTS_MACHINE = frozenset(
    {
        VpsOperationKind.START,
        VpsOperationKind.REBOOT,
        VpsOperationKind.RESET,
        VpsOperationKind.REINSTALL,
        VpsOperationKind.RESIZE,
        VpsOperationKind.RESTORE,
        VpsOperationKind.RESUME,
    }
)
# statuses billing's suspension takes a VPS from (a stopped one stays stopped, start refused)
SUSPENDABLE = (VpsStatus.CREATING, VpsStatus.STARTING, VpsStatus.RUNNING, VpsStatus.REBOOTING)


class VpsNameTaken(Conflict):
    code = "vps_name_taken"


class VpsQuotaExceeded(Conflict):
    code = "vps_quota_exceeded"


class SnapshotLimit(Conflict):
    code = "snapshot_limit"


class VpsNodeDown(Conflict):
    code = "node_down"


def set_status(vps: Vps, status: str, reason: str | None = None) -> None:
    if status != vps.status:
        vps.status_changed_at = datetime.now(UTC)
    vps.status = status
    vps.status_reason = reason[:500] if reason else None


async def dispatch(session: AsyncSession, vps: Vps) -> None:
    """Ask the worker of the VPS's node (where its disk is) to run its next queued operation
    (after this transaction commits)."""
    await enqueue_task(
        session, VPS_RUN_TASK, queue=node_queue(vps.node), kwargs={"vps_id": str(vps.id)}
    )


async def node_hosts(session: AsyncSession) -> dict[str, str]:
    """Each node's host as it heartbeats it (where its VPSes' SSH forwards are reached)."""
    return {node.name: node.host for node in await NodeDAO(session).all()}


async def get_vps(session: AsyncSession, vps_id: uuid.UUID, owner_id: uuid.UUID | None) -> Vps:
    """The VPS, to its owner (owner_id) or to staff (None); 404 for anyone else."""
    vps = await VpsDAO(session).visible(vps_id, owner_id)
    if vps is None:
        raise NotFound("VPS not found")
    return vps


class NoHypervisor(ServiceUnavailable):
    code = "vps_unavailable"


async def create_vps(
    session: AsyncSession,
    settings: DeploySettings,
    kind: str | None,
    owner_id: uuid.UUID,
    data: VpsCreate,
) -> tuple[Vps, VpsOperation]:
    """A new VPS of a catalog plan, within the owner's quota, under a name of theirs not in
    use, on the node placement picks (nodes/placement.py), with an SSH port free there; its
    create operation is queued on that node. It is of the kind that node's driver makes (as
    it heartbeats it), else `kind` (this web process's driver's, None: it has none)."""
    plan = plan_of(settings, data.plan)
    dao = VpsDAO(session)
    await dao.lock_owner(owner_id)
    count = await dao.count_live(owner_id)
    if count >= settings.vps_max_per_owner:
        raise VpsQuotaExceeded(
            f"You may have {settings.vps_max_per_owner} VPSes and you have {count}: delete "
            "one, or ask support for more",
            details={"limit": settings.vps_max_per_owner, "vps": count},
        )
    if await dao.name_in_use(owner_id, data.name):
        raise VpsNameTaken(f"You already have a VPS named {data.name!r}")
    if await _owner_suspended(session, owner_id):
        raise AccountSuspended("The account is suspended by billing; top up to order a VPS")
    node = await place_vps(session, plan.memory_mb, here=settings.node_name)
    placed = await session.get(Node, node)
    kind = (placed.vps_kind if placed is not None else None) or kind
    if kind is None:
        raise NoHypervisor("No node can run VPSes (no machine driver)")
    low, high = await vps_ports(session, node, (settings.vps_port_min, settings.vps_port_max))
    await dao.lock_ports(node)
    port = pick_port(low, high, await dao.ports_taken(node))
    try:
        async with session.begin_nested():
            vps = await dao.create(
                owner_id=owner_id,
                name=data.name,
                plan=plan.key,
                billing_plan_key=plan.billing_plan_key,
                kind=kind,
                status=VpsStatus.CREATING,
                vcpus=plan.vcpus,
                memory_mb=plan.memory_mb,
                disk_gb=plan.disk_gb,
                ssh_public_key=data.ssh_public_key,
                node=node,
                ssh_port=port,
            )
    except IntegrityError as exc:
        raise VpsNameTaken(f"You already have a VPS named {data.name!r}") from exc
    op = await _queue(session, vps, VpsOperationKind.CREATE, None, OperationOrigin.USER, owner_id)
    await session.refresh(vps)
    return vps, op


async def _node_down(session: AsyncSession, name: str) -> bool:
    node = await session.get(Node, name)
    return node is not None and node.status == NodeStatus.DOWN


async def _owner_suspended(session: AsyncSession, owner_id: uuid.UUID) -> OwnerStanding | None:
    standing = await session.get(OwnerStanding, owner_id)
    return standing if standing is not None and standing.suspended else None


async def _queue(
    session: AsyncSession,
    vps: Vps,
    kind: VpsOperationKind,
    params: dict[str, Any] | None,
    origin: str,
    requested_by: uuid.UUID | None,
    reason: str | None = None,
) -> VpsOperation:
    ops = VpsOperationDAO(session)
    op = await ops.create(
        vps_id=vps.id,
        kind=kind,
        status=OperationStatus.QUEUED,
        params=params or {},
        origin=origin,
        requested_by=requested_by,
        reason=reason,
        vps_status_before=vps.status,
    )
    if vps.active_operation_id is None:
        await dispatch(session, vps)
    return op


def _check_status(vps: Vps, kind: VpsOperationKind, origin: str, active: list[VpsOperation]):
    if vps.status == VpsStatus.DELETING:
        raise IllegalTransition("The VPS is being deleted")
    if kind == VpsOperationKind.DELETE:
        return
    if kind == VpsOperationKind.SUSPEND:
        if vps.status == VpsStatus.SUSPENDED:
            raise IllegalTransition("The VPS is suspended already")
        return
    if kind == VpsOperationKind.RESUME:
        pending = any(o.kind == VpsOperationKind.SUSPEND for o in active)
        if vps.status != VpsStatus.SUSPENDED and not pending:
            raise IllegalTransition(f"Cannot resume a VPS that is {vps.status}")
        if origin == OperationOrigin.BILLING and vps.status == VpsStatus.SUSPENDED:
            if vps.suspended_by != OperationOrigin.BILLING:
                raise Conflict(
                    "Suspended by an admin, not by billing", code="not_suspended_by_billing"
                )
        return
    if vps.status == VpsStatus.SUSPENDED and kind != VpsOperationKind.DELETE_SNAPSHOT:
        raise IllegalTransition("The VPS is suspended", code="vps_suspended")
    if active:
        raise OperationInProgress(
            f"A {active[0].kind} is in progress; wait for it to finish",
            details={"operation_id": str(active[0].id), "kind": active[0].kind},
        )
    allowed = ALLOWED_FROM.get(kind)
    if allowed is not None and vps.status not in allowed:
        raise IllegalTransition(f"Cannot {kind.replace('_', ' ')} a VPS that is {vps.status}")


async def request_operation(
    session: AsyncSession,
    vps_id: uuid.UUID,
    kind: VpsOperationKind,
    *,
    requested_by: uuid.UUID | None,
    origin: str,
    params: dict[str, Any] | None = None,
    reason: str | None = None,
) -> VpsOperation:
    """Queue `kind` on the VPS, or refuse it (404, 409) when its state, its owner's standing
    or the operation in progress does not allow it."""
    vps = await VpsDAO(session).lock(vps_id)
    if vps is None or vps.status == VpsStatus.DELETED:
        raise NotFound("VPS not found")
    ops = VpsOperationDAO(session)
    active = await ops.active(vps.id)
    _check_status(vps, kind, origin, active)
    if kind in STARTS_MACHINE and await _owner_suspended(session, vps.owner_id):
        raise AccountSuspended("The account is suspended by billing; top up to run VPSes again")
    if kind in STARTS_MACHINE and await _node_down(session, vps.node):
        raise VpsNodeDown(
            f"The VPS's node {vps.node} is down and its disk is there: it can start again "
            "once the node is back (or delete it)",
            details={"node": vps.node},
        )
    if kind == VpsOperationKind.DELETE:
        for other in active:
            if other.status == OperationStatus.QUEUED:
                other.status = OperationStatus.SUPERSEDED
                other.finished_at = datetime.now(UTC)
                other.reason = "superseded by a delete"
                await _snapshot_request_dropped(session, other)
    op = await _queue(session, vps, kind, params, origin, requested_by, reason)
    if kind in STATUS_ON_REQUEST:
        set_status(vps, STATUS_ON_REQUEST[kind], reason)
    await session.flush()
    return op


async def _snapshot_request_dropped(session: AsyncSession, op: VpsOperation) -> None:
    snapshot_id = op.params.get("snapshot_id")
    if op.kind == VpsOperationKind.SNAPSHOT and snapshot_id:
        await SnapshotDAO(session).mark(
            uuid.UUID(snapshot_id), status=SnapshotStatus.FAILED, error=op.reason
        )


async def request_resize(
    session: AsyncSession, settings: DeploySettings, vps: Vps, body: ResizeRequest, who: uuid.UUID
) -> VpsOperation:
    """New sizes within the plan's limits; the disk only grows."""
    plan = plan_of(settings, vps.plan)
    max_vcpus, max_memory, max_disk = plan.limits
    want = {
        "vcpus": body.vcpus if body.vcpus is not None else vps.vcpus,
        "memory_mb": body.memory_mb if body.memory_mb is not None else vps.memory_mb,
        "disk_gb": body.disk_gb if body.disk_gb is not None else vps.disk_gb,
    }
    problems = []
    if want["vcpus"] > max_vcpus:
        problems.append(f"vcpus: the {plan.key} plan allows up to {max_vcpus}")
    if want["memory_mb"] > max_memory:
        problems.append(f"memory_mb: the {plan.key} plan allows up to {max_memory}")
    if want["disk_gb"] > max_disk:
        problems.append(f"disk_gb: the {plan.key} plan allows up to {max_disk}")
    if want["disk_gb"] < vps.disk_gb:
        problems.append(f"disk_gb: a disk only grows (it has {vps.disk_gb} GB)")
    if problems:
        raise Unprocessable("; ".join(problems), details={"limits": plan.model_dump()})
    if (want["vcpus"], want["memory_mb"], want["disk_gb"]) == (
        vps.vcpus,
        vps.memory_mb,
        vps.disk_gb,
    ):
        raise Unprocessable("The VPS has these sizes already", details={"field": "body"})
    return await request_operation(
        session, vps.id, VpsOperationKind.RESIZE, requested_by=who, origin=OperationOrigin.USER,
        params=want,
    )  # fmt: skip


async def request_snapshot(
    session: AsyncSession, settings: DeploySettings, vps: Vps, name: str | None, who: uuid.UUID
) -> tuple[VpsSnapshot, VpsOperation]:
    snapshots = SnapshotDAO(session)
    kept = await snapshots.count_kept(vps.id)
    if kept >= settings.vps_snapshots_per_vps:
        raise SnapshotLimit(
            f"A VPS keeps at most {settings.vps_snapshots_per_vps} snapshots: delete one first",
            details={"limit": settings.vps_snapshots_per_vps},
        )
    label = name or f"snapshot {datetime.now(UTC):%Y-%m-%d %H:%M:%S}"
    snapshot = await snapshots.create(vps_id=vps.id, name=label, status=SnapshotStatus.CREATING)
    op = await request_operation(
        session, vps.id, VpsOperationKind.SNAPSHOT, requested_by=who,
        origin=OperationOrigin.USER, params={"snapshot_id": str(snapshot.id)},
    )  # fmt: skip
    return snapshot, op


async def snapshot_of(session: AsyncSession, vps: Vps, snapshot_id: uuid.UUID) -> VpsSnapshot:
    snapshot = await SnapshotDAO(session).of_vps(vps.id, snapshot_id)
    if snapshot is None:
        raise NotFound("Snapshot not found")
    return snapshot


async def request_restore(
    session: AsyncSession, vps: Vps, snapshot_id: uuid.UUID, who: uuid.UUID
) -> VpsOperation:
    snapshot = await snapshot_of(session, vps, snapshot_id)
    if snapshot.status != SnapshotStatus.READY:
        raise Conflict(f"The snapshot is {snapshot.status}", code="snapshot_unavailable")
    return await request_operation(
        session, vps.id, VpsOperationKind.RESTORE, requested_by=who,
        origin=OperationOrigin.USER, params={"snapshot_id": str(snapshot.id)},
    )  # fmt: skip


async def request_snapshot_delete(
    session: AsyncSession, vps: Vps, snapshot_id: uuid.UUID, who: uuid.UUID
) -> VpsOperation:
    snapshot = await snapshot_of(session, vps, snapshot_id)
    if snapshot.status not in (SnapshotStatus.READY, SnapshotStatus.FAILED):
        raise Conflict(f"The snapshot is {snapshot.status}", code="snapshot_unavailable")
    op = await request_operation(
        session, vps.id, VpsOperationKind.DELETE_SNAPSHOT, requested_by=who,
        origin=OperationOrigin.USER, params={"snapshot_id": str(snapshot.id)},
    )  # fmt: skip
    snapshot.status = SnapshotStatus.DELETING
    return op


async def list_vps(
    session: AsyncSession, params: PageParams, *, owner_id: uuid.UUID | None, status: str | None
) -> tuple[list[Vps], int]:
    return await VpsDAO(session).search(params, owner_id=owner_id, status=status)


async def list_snapshots(session: AsyncSession, vps: Vps) -> list[VpsSnapshot]:
    return await SnapshotDAO(session).listed(vps.id)


async def list_operations(
    session: AsyncSession, vps: Vps, params: PageParams
) -> tuple[list[VpsOperation], int]:
    return await VpsOperationDAO(session).of_vps_page(vps.id, params)


async def get_operation(session: AsyncSession, vps: Vps, op_id: uuid.UUID) -> VpsOperation:
    op = await VpsOperationDAO(session).of_vps(vps.id, op_id)
    if op is None:
        raise NotFound("Operation not found")
    return op
