"""Leases on running operations: taking the app's next operation, the heartbeat that keeps
it, finishing it, and reaping the ones whose worker stopped beating (it died).

Each function is one short transaction (`fn(session, ...)`), so the state it writes is
visible at once to the API, the reaper and the other workers.
"""

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from loguru import logger
from sqlalchemy.ext.asyncio import AsyncSession

from berth_deploy import events
from berth_deploy.apps.dao import AppDAO
from berth_deploy.enums import AppStatus, OperationStatus, OperationStep, ReleaseStatus
from berth_deploy.models import App, Operation, Release, Template
from berth_deploy.operations.dao import OperationDAO
from berth_deploy.operations.lifecycle import CANCELLED_BY_REQUEST, STARTS_PROCESSES
from berth_deploy.operations.service import dispatch, restore_after


class LeaseLost(Exception):
    """Another worker (or the reaper) took the operation over: stop touching it."""


@dataclass(frozen=True)
class CancelRequest:
    reason: str
    # the app is being deleted: nothing the operation does needs to survive, so it stops at
    # its next checkpoint even past the point where a cancel by request is refused
    forced: bool


@dataclass(frozen=True)
class Claim:
    """What a worker needs to run an operation, read when it took the lease."""

    op_id: uuid.UUID
    kind: str
    attempt: int
    origin: str
    release_id: uuid.UUID | None
    requested_by: uuid.UUID | None
    reason: str | None
    app: dict[str, Any]
    # a deploy's commit: None builds the branch's newest; source is a SourceKind
    commit_sha: str | None
    template: dict[str, Any]
    source: str = "repo"


APP_FIELDS = (
    "id", "owner_id", "slug", "template_key", "repo_url", "branch", "build_command",
    "run_command", "memory_mb", "cpu_millis", "pids_max", "run_uid", "current_release_id",
    "status", "suspended_by", "parent_app_id", "image", "container_port", "registry_username",
)  # fmt: skip
TEMPLATE_FIELDS = (
    "key", "process_type", "build_steps", "run_command", "health", "rollout", "needs_repo",
    "plan_key", "env",
)  # fmt: skip


def _lease_until(seconds: int) -> datetime:
    return datetime.now(UTC) + timedelta(seconds=seconds)


async def acquire(
    session: AsyncSession, *, app_id: uuid.UUID, owner: str, node: str, lease_seconds: int
) -> Claim | None:
    """Lease the app's oldest queued operation, unless another one holds the app."""
    app = await AppDAO(session).lock(app_id)
    if app is None:
        return None
    ops = OperationDAO(session)
    if app.active_operation_id is not None:
        holder = await ops.get(app.active_operation_id)
        if holder is not None and holder.status == OperationStatus.RUNNING:
            return None  # it runs (or the reaper will deal with its expired lease)
        app.active_operation_id = None
    op = await ops.next_queued(app.id)
    if op is None:
        return None
    now = datetime.now(UTC)
    op.status = OperationStatus.RUNNING
    op.attempt += 1
    op.lease_owner = owner
    op.lease_node = node
    op.lease_expires_at = _lease_until(lease_seconds)
    op.heartbeat_at = now
    first_run = op.started_at is None
    op.started_at = op.started_at or now
    op.step_pgid = None
    app.active_operation_id = op.id
    app.node = node  # what it builds and starts lives on this node from now on
    if first_run and op.kind in STARTS_PROCESSES:  # a retry after a lost worker goes on muted
        await events.operation_started(session, app, op)
    template = await session.get(Template, app.template_key)
    assert template is not None
    await session.flush()
    return Claim(
        op_id=op.id,
        kind=op.kind,
        attempt=op.attempt,
        origin=op.origin,
        release_id=op.release_id,
        requested_by=op.requested_by,
        reason=op.reason,
        app={f: getattr(app, f) for f in APP_FIELDS},
        commit_sha=op.commit_sha,
        template={f: getattr(template, f) for f in TEMPLATE_FIELDS},
        source=op.source,
    )


async def heartbeat(
    session: AsyncSession,
    *,
    op_id: uuid.UUID,
    owner: str,
    lease_seconds: int,
    pgid: int | None,
) -> CancelRequest | None:
    """Renew the lease; the cancel request, if one was made. LeaseLost when it is not ours."""
    row = await OperationDAO(session).renew_lease(op_id, owner, lease_seconds, pgid)
    if row is None:
        raise LeaseLost(str(op_id))
    requested_at, reason, app_id = row
    if requested_at is None:
        return None
    app_status = await AppDAO(session).status_of(app_id)
    return CancelRequest(reason or CANCELLED_BY_REQUEST, forced=app_status == AppStatus.DELETING)


async def set_step(
    session: AsyncSession, *, op_id: uuid.UUID, owner: str, step: OperationStep, **values: Any
) -> None:
    if not await OperationDAO(session).set_step(op_id, owner, step, **values):
        raise LeaseLost(str(op_id))


async def take_build_slot(
    session: AsyncSession, *, op_id: uuid.UUID, owner: str, node: str, limit: int
) -> bool:
    """Enter the clone/build steps if fewer than `limit` builds run on this node."""
    ops = OperationDAO(session)
    await ops.lock_build_slots(node)
    if await ops.builds_running(node, other_than=op_id) >= limit:
        return False
    await set_step(session, op_id=op_id, owner=owner, step=OperationStep.CLONE)
    return True


async def _close(
    session: AsyncSession, op: Operation, app: App, status: str, reason: str | None
) -> None:
    op.status = status
    op.reason = reason[:1000] if reason else op.reason
    op.finished_at = datetime.now(UTC)
    op.lease_owner = None
    op.lease_expires_at = None
    op.step_pgid = None
    if op.kind in STARTS_PROCESSES:
        await events.operation_finished(session, app, op)
    if status != OperationStatus.SUCCEEDED:
        if op.release_id is not None:
            release = await session.get(Release, op.release_id)
            if release is not None and release.status == ReleaseStatus.BUILDING:
                release.status = (
                    ReleaseStatus.FAILED
                    if status == OperationStatus.FAILED
                    else ReleaseStatus.CANCELLED
                )
                release.error = (reason or status)[:1000]
        await restore_after(
            session, app, op, failure=reason if status == OperationStatus.FAILED else None
        )
    if app.active_operation_id == op.id:
        app.active_operation_id = None
    if await OperationDAO(session).next_queued(app.id) is not None:
        await dispatch(session, app.id)


async def finish(
    session: AsyncSession, *, op_id: uuid.UUID, owner: str, status: str, reason: str | None
) -> None:
    app_id = (await OperationDAO(session).get_or_404(op_id)).app_id
    app = await AppDAO(session).lock(app_id)
    op = await OperationDAO(session).lock(op_id)
    if app is None or op is None or op.lease_owner != owner or op.status != OperationStatus.RUNNING:
        raise LeaseLost(str(op_id))
    await _close(session, op, app, status, reason)
    await session.flush()


@dataclass(frozen=True)
class Reaped:
    op_id: uuid.UUID
    retried: bool
    pgid: int | None
    node: str | None


async def reap_expired(session: AsyncSession, *, max_attempts: int) -> list[Reaped]:
    """Operations whose worker stopped renewing its lease: retry them, or fail with a reason."""
    reaped = []
    for op in await OperationDAO(session).expired():
        app = await AppDAO(session).lock(op.app_id)
        assert app is not None
        step = op.step or "its first step"
        silent = (
            int((datetime.now(UTC) - op.heartbeat_at).total_seconds()) if op.heartbeat_at else 0
        )
        lost = f"the worker running it was lost during {step} (no heartbeat for {silent}s)"
        retry = op.cancel_requested_at is None and op.attempt < max_attempts
        reaped.append(Reaped(op.id, retry, op.step_pgid, op.lease_node))
        if op.cancel_requested_at is not None:
            why = op.cancel_reason or CANCELLED_BY_REQUEST
            await _close(session, op, app, OperationStatus.CANCELLED, f"{why}; {lost}")
        elif retry:
            op.status = OperationStatus.QUEUED
            op.reason = f"{lost}; retrying (attempt {op.attempt + 1} of {max_attempts})"
            op.lease_owner = None
            op.lease_expires_at = None
            op.step_pgid = None
            if app.active_operation_id == op.id:
                app.active_operation_id = None
            await dispatch(session, app.id)
        else:
            await _close(
                session,
                op,
                app,
                OperationStatus.FAILED,
                f"{lost}; gave up after {op.attempt} attempt(s)",
            )
        logger.bind(operation_id=str(op.id)).warning("reaped operation: {}", lost)
    await session.flush()
    return reaped
