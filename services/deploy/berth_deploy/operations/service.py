"""Asking for operations on an app (deploy, rollback, start, stop, restart, delete, suspend,
resume) and cancelling them: the state checks, the per-app queue, the task that runs them.

One operation runs at a time per app. Deploy-like and administrative operations queue behind
the running one (a newer deploy or rollback supersedes a queued one); start, stop and restart
need the app idle (409 otherwise).
"""

import uuid
from collections.abc import Iterable
from dataclasses import replace
from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncSession

from berth_common.errors import Conflict, NotFound
from berth_common.outbox import enqueue_task
from berth_common.pagination import PageParams
from berth_deploy import events
from berth_deploy.apps.dao import AppDAO
from berth_deploy.enums import (
    AppStatus,
    OperationKind,
    OperationOrigin,
    OperationStatus,
    ReleaseStatus,
    SourceKind,
)
from berth_deploy.instances.dao import InstanceDAO
from berth_deploy.models import App, Operation, OwnerStanding
from berth_deploy.names import QUEUE, RUN_OPERATION_TASK, node_queue
from berth_deploy.nodes import placement
from berth_deploy.operations.cause import MANUAL, DeployCause
from berth_deploy.operations.dao import OperationDAO
from berth_deploy.operations.lifecycle import (
    CANCELLABLE_STEPS,
    CANCELLED_BY,
    CANCELLED_BY_REQUEST,
    DEPLOY_KINDS,
    QUEUEABLE,
    SERVING_INSTANCE,
    STARTS_PROCESSES,
    STOPS_PROCESSES,
    TAKES_DOWN,
    AccountSuspended,
    IllegalTransition,
    OperationInProgress,
    check_requestable,
    check_transition,
)
from berth_deploy.operations.preview_follow import check_parent_not_suspended, previews_follow
from berth_deploy.releases.dao import ReleaseDAO

# the app status an operation moves the app to as soon as it is asked for
STATUS_ON_REQUEST = {
    OperationKind.DELETE: AppStatus.DELETING,
    OperationKind.STOP: AppStatus.STOPPING,
    OperationKind.START: AppStatus.STARTING,
}
RESTING = (AppStatus.CREATED, AppStatus.STOPPED, AppStatus.FAILED)


class NothingToStart(Conflict):
    code = "nothing_to_start"


def set_status(app: App, status: str, reason: str | None = None) -> None:
    check_transition(app.status, status)
    if status != app.status:
        app.status_changed_at = datetime.now(UTC)
    app.status = status
    app.status_reason = reason


async def owner_suspended(session: AsyncSession, owner_id: uuid.UUID) -> OwnerStanding | None:
    standing = await session.get(OwnerStanding, owner_id)
    return standing if standing is not None and standing.suspended else None


async def dispatch(session: AsyncSession, app_id: uuid.UUID) -> None:
    """Ask the worker of the app's node to run its next queued operation (after this
    transaction commits); nodes/placement.py says which node."""
    app = await AppDAO(session).lock(app_id)
    op = await OperationDAO(session).next_queued(app_id)
    node = None
    if app is not None:
        moving = op is not None and op.kind in STARTS_PROCESSES
        node = await placement.place(session, app, moving=moving)
    queue = node_queue(node) if node else QUEUE
    await enqueue_task(session, RUN_OPERATION_TASK, queue=queue, kwargs={"app_id": str(app_id)})


async def _rollback_target(
    session: AsyncSession, app: App, release_id: uuid.UUID | None
) -> uuid.UUID:
    releases = ReleaseDAO(session)
    if release_id is not None:
        release = await releases.of_app(app.id, release_id)
        if release is None:
            raise NotFound("Release not found")
        if release.status != ReleaseStatus.READY:
            raise Conflict(
                f"Release #{release.number} is {release.status}: only a built release that "
                "is still kept can be rolled back to",
                code="release_unavailable",
            )
        return release.id
    current = await releases.get(app.current_release_id) if app.current_release_id else None
    for release in await releases.ready(app.id):
        if current is None or release.number < current.number:
            return release.id
    raise Conflict("There is no earlier release to roll back to", code="release_unavailable")


async def request_operation(
    session: AsyncSession,
    app_id: uuid.UUID,
    kind: OperationKind,
    *,
    requested_by: uuid.UUID | None,
    origin: OperationOrigin,
    release_id: uuid.UUID | None = None,
    reason: str | None = None,
    cause: DeployCause = MANUAL,
) -> Operation:
    """Queue a `kind` operation on the app, or refuse it (404, 409) when the app's state, its
    owner's standing or the operation in progress does not allow it. A delete or suspend
    cancels what runs; a newer deploy supersedes a queued one (pushes that arrive while a
    deploy runs collapse to the newest commit). The app moves to the status the request
    implies, and a worker is asked to run it once this transaction commits. `cause` says what
    started a deploy and which commit it builds."""
    app = await _requestable_app(session, app_id, kind, origin)
    if cause.source == SourceKind.REPO and not app.repo_url:
        # a push-only app builds its branch from its repository on Berth
        cause = replace(cause, source=SourceKind.HOSTED)
    ops = OperationDAO(session)
    active = await ops.active(app.id)
    _check_against_active(app, kind, active)
    target = await _target_release(session, app, kind, release_id)
    for superseded in _make_way(kind, active):
        await _finished_after_start(session, app, superseded)
    op = await ops.create(
        app_id=app.id,
        kind=kind,
        status=OperationStatus.QUEUED,
        release_id=target,
        requested_by=requested_by,
        origin=origin,
        reason=reason,
        app_status_before=app.status,
        **cause.columns(),
    )
    _status_on_request(app, kind, reason)
    if app.active_operation_id is None:
        await dispatch(session, app.id)
    await previews_follow(session, app, kind, requested_by, origin)
    await session.flush()
    return op


async def _requestable_app(
    session: AsyncSession, app_id: uuid.UUID, kind: OperationKind, origin: OperationOrigin
) -> App:
    """The app, locked, if its status and its owner's standing allow `kind`."""
    app = await AppDAO(session).lock(app_id)
    if app is None or app.status == AppStatus.DELETED:
        raise NotFound("App not found")
    check_requestable(kind, app.status)
    if (
        kind == OperationKind.RESUME
        and origin == OperationOrigin.BILLING
        and app.status == AppStatus.SUSPENDED
        and app.suspended_by != OperationOrigin.BILLING
    ):
        raise Conflict("Suspended by an admin, not by billing", code="not_suspended_by_billing")
    if kind in STARTS_PROCESSES:
        await check_parent_not_suspended(session, app, origin)
        standing = await owner_suspended(session, app.owner_id)
        if standing is not None:
            raise AccountSuspended(
                "The account is suspended by billing; top up to run apps again",
                details={"reason": standing.reason},
            )
    return app


def _check_against_active(app: App, kind: OperationKind, active: list[Operation]) -> None:
    """A resume needs a suspension (done or on its way); start, stop, restart an idle app."""
    if kind == OperationKind.RESUME and app.status != AppStatus.SUSPENDED:
        if not any(o.kind == OperationKind.SUSPEND for o in active):
            raise IllegalTransition(f"Cannot resume an app that is {app.status}")
    if kind not in QUEUEABLE and active:
        raise OperationInProgress(
            f"A {active[0].kind} is in progress; wait for it or cancel it",
            details={"operation_id": str(active[0].id), "kind": active[0].kind},
        )


async def _target_release(
    session: AsyncSession, app: App, kind: OperationKind, release_id: uuid.UUID | None
) -> uuid.UUID | None:
    """The release a rollback goes to, or a start, resume or restart runs (the current one)."""
    if kind == OperationKind.ROLLBACK:
        return await _rollback_target(session, app, release_id)
    if kind in (OperationKind.START, OperationKind.RESUME, OperationKind.RESTART):
        releases = ReleaseDAO(session)
        current = await releases.get(app.current_release_id) if app.current_release_id else None
        if current is None or current.status != ReleaseStatus.READY:
            raise NothingToStart("The app has no built release to start: deploy it first")
        return current.id
    return None


def _make_way(kind: OperationKind, active: list[Operation]) -> list[Operation]:
    """A delete or suspend cancels the running operation and supersedes the queued ones; a
    deploy or rollback supersedes a queued deploy or rollback. Returns the superseded ones."""
    now = datetime.now(UTC)
    superseded = []
    for other in active:
        if other.status != OperationStatus.QUEUED:
            if kind in TAKES_DOWN and other.kind not in STOPS_PROCESSES:
                if other.cancel_requested_at is None or kind == OperationKind.DELETE:
                    other.cancel_reason = CANCELLED_BY[kind]
                other.cancel_requested_at = other.cancel_requested_at or now
            continue
        if kind in TAKES_DOWN or (kind in DEPLOY_KINDS and other.kind in DEPLOY_KINDS):
            other.status = OperationStatus.SUPERSEDED
            other.finished_at = now
            other.reason = f"superseded by a newer {kind}"
            superseded.append(other)
    return superseded


async def _finished_after_start(session: AsyncSession, app: App, op: Operation) -> None:
    """A queued operation that had run before (its worker was lost, it waits for a retry)
    ended: its `deploy.operation.started` gets its `finished`."""
    if op.started_at is not None and op.kind in STARTS_PROCESSES:
        await events.operation_finished(session, app, op)


def _status_on_request(app: App, kind: OperationKind, reason: str | None) -> None:
    new_status = STATUS_ON_REQUEST.get(kind)
    if kind in DEPLOY_KINDS and app.status in RESTING:
        new_status = AppStatus.QUEUED
    if new_status:
        set_status(app, new_status, reason)


async def cancel_operation(session: AsyncSession, app_id: uuid.UUID, op_id: uuid.UUID) -> Operation:
    app = await AppDAO(session).lock(app_id)
    op = await OperationDAO(session).lock(op_id)
    if app is None or op is None or op.app_id != app_id:
        raise NotFound("Operation not found")
    if op.status == OperationStatus.QUEUED:
        op.status = OperationStatus.CANCELLED
        op.finished_at = datetime.now(UTC)
        op.reason = (
            "cancelled before it started" if op.started_at is None else "cancelled before its retry"
        )
        await _finished_after_start(session, app, op)
        await restore_after(session, app, op)
        if app.active_operation_id == op.id:
            app.active_operation_id = None
            await dispatch(session, app.id)
    elif op.status == OperationStatus.RUNNING:
        if op.kind in STOPS_PROCESSES:
            raise Conflict(f"A {op.kind} cannot be cancelled", code="not_cancellable")
        if op.step not in CANCELLABLE_STEPS:
            raise Conflict(
                "Too late to cancel: the new release is already being switched in",
                code="not_cancellable",
            )
        if op.cancel_requested_at is None:
            op.cancel_requested_at = datetime.now(UTC)
            op.cancel_reason = CANCELLED_BY_REQUEST
    else:
        raise Conflict(f"The {op.kind} already ended ({op.status})", code="not_cancellable")
    await session.flush()
    return op


async def restore_after(
    session: AsyncSession, app: App, op: Operation, failure: str | None = None
) -> None:
    """Where the app lands when `op` ends without succeeding (cancelled, superseded, failed)."""
    if app.status in (AppStatus.DELETING, AppStatus.DELETED, AppStatus.SUSPENDED):
        return
    serving = await InstanceDAO(session).live(app.id, SERVING_INSTANCE)
    if serving:
        if app.status != AppStatus.RUNNING:
            set_status(app, AppStatus.RUNNING, None)
        return
    if failure is not None:
        set_status(app, AppStatus.FAILED, failure[:500])
        return
    if app.status in (AppStatus.QUEUED, AppStatus.BUILDING, AppStatus.STARTING, AppStatus.STOPPING):
        others = [o for o in await OperationDAO(session).active(app.id) if o.id != op.id]
        if any(o.kind in DEPLOY_KINDS and o.status == OperationStatus.QUEUED for o in others):
            return  # a newer deploy keeps it queued
        before = op.app_status_before if op.app_status_before in RESTING else None
        if before is None:
            before = AppStatus.STOPPED if app.current_release_id else AppStatus.CREATED
        set_status(app, before, "cancelled" if before != AppStatus.FAILED else app.status_reason)


async def move_app(
    session: AsyncSession, *, app_id: uuid.UUID, status: str, when: tuple[str, ...], reason=None
) -> None:
    """Move the app to `status` if it is in one of `when` (a redeploy of a running app
    leaves it running)."""
    app = await locked_app(session, app_id)
    if app.status in when:
        set_status(app, status, reason)


async def mark_deleted(session: AsyncSession, *, app_id: uuid.UUID) -> None:
    app = await locked_app(session, app_id)
    set_status(app, AppStatus.DELETED)
    app.deleted_at = datetime.now(UTC)
    app.current_release_id = None


async def app_settled(
    session: AsyncSession,
    *,
    app_id: uuid.UUID,
    status: str,
    reason: str | None = None,
    suspended_by: str | None = None,
) -> None:
    """Where a stop, suspend or delete leaves the app."""
    app = await locked_app(session, app_id)
    if app.status == AppStatus.DELETING:
        return  # a delete was asked for meanwhile: it queues behind and takes the app from here
    if status == AppStatus.SUSPENDED and app.status in (
        AppStatus.CREATED,
        AppStatus.STOPPED,
        AppStatus.FAILED,
    ):
        return  # nothing of it ran (its deploy was cancelled): nothing to suspend
    set_status(app, status, reason)
    app.suspended_by = suspended_by if status == AppStatus.SUSPENDED else None


async def locked_app(session: AsyncSession, app_id: uuid.UUID) -> App:
    """The app row of a running operation, locked (it exists: deletes go through one)."""
    app = await AppDAO(session).lock(app_id)
    assert app is not None
    return app


async def list_operations(
    session: AsyncSession, app_id: uuid.UUID, params: PageParams, kinds: Iterable[str] | None
) -> tuple[list[Operation], int]:
    return await OperationDAO(session).of_app_page(app_id, params, kinds)


async def get_operation(
    session: AsyncSession, app_id: uuid.UUID, op_id: uuid.UUID, kinds: Iterable[str] | None
) -> Operation:
    op = await OperationDAO(session).of_app(app_id, op_id)
    if op is None or (kinds is not None and op.kind not in kinds):
        raise NotFound("Operation not found")
    return op
