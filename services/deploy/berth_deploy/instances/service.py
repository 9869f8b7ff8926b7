"""The rows of an app's instances as an operation starts, routes and stops them, and the
instance events billing charges by. Each function is one short transaction (`fn(session,
...)`), so the state it writes is visible at once to the API, the supervisor and the workers."""

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from berth_deploy import events
from berth_deploy.enums import AppStatus, InstanceStatus, OperationKind, ProcessType
from berth_deploy.instances.dao import InstanceDAO
from berth_deploy.instances.schemas import InstanceLiveness, LivenessPage
from berth_deploy.models import Instance
from berth_deploy.operations.executor import Cancelled
from berth_deploy.operations.lifecycle import CANCELLED_BY, LIVE_INSTANCE, SERVING_INSTANCE
from berth_deploy.operations.service import locked_app, set_status
from berth_deploy.sandbox.driver import ProcessHandle
from berth_deploy.sandbox.ports import pick_port


@dataclass(frozen=True)
class InstanceRef:
    id: uuid.UUID
    release_id: uuid.UUID
    status: str
    port: int | None
    pid: int | None
    monitor_pid: int | None
    proc_start: int | None
    routed: bool
    started: bool
    node: str = ""

    @property
    def name(self) -> str:
        return process_name(self.id)

    @property
    def handle(self) -> ProcessHandle | None:
        if self.pid is None:
            return None
        return ProcessHandle(self.name, self.pid, self.monitor_pid, self.proc_start or 0)

    @classmethod
    def of(cls, i: Instance) -> "InstanceRef":
        return cls(
            i.id,
            i.release_id,
            i.status,
            i.port,
            i.pid,
            i.monitor_pid,
            i.proc_start,
            i.routed,
            i.started_at is not None,
            i.node,
        )


def process_name(instance_id: uuid.UUID) -> str:
    return f"i-{instance_id}"


async def instances(
    session: AsyncSession, *, app_id: uuid.UUID, statuses: tuple[str, ...] = LIVE_INSTANCE
) -> list[InstanceRef]:
    return [InstanceRef.of(i) for i in await InstanceDAO(session).live(app_id, statuses)]


async def serving(session: AsyncSession, *, app_id: uuid.UUID) -> list[InstanceRef]:
    return await instances(session, app_id=app_id, statuses=SERVING_INSTANCE)


async def leftovers(session: AsyncSession, *, op_id: uuid.UUID) -> list[InstanceRef]:
    """Instances an earlier, lost attempt of this operation was starting."""
    return [InstanceRef.of(i) for i in await InstanceDAO(session).starting_for(op_id)]


async def made_live_by(session: AsyncSession, *, op_id: uuid.UUID) -> InstanceRef | None:
    """The instance an earlier, lost attempt of this operation already made live."""
    instance = await InstanceDAO(session).made_live_by(op_id)
    return InstanceRef.of(instance) if instance is not None else None


async def create_instance(
    session: AsyncSession,
    *,
    app_id: uuid.UUID,
    release_id: uuid.UUID,
    op_id: uuid.UUID | None,
    node: str,
    plan_key: str,
    web: bool,
    port_range: tuple[int, int],
) -> InstanceRef:
    dao = InstanceDAO(session)
    for _ in range(5):
        port = pick_port(*port_range, await dao.ports_taken(node)) if web else None
        try:
            async with session.begin_nested():
                instance = await dao.create(
                    app_id=app_id,
                    release_id=release_id,
                    operation_id=op_id,
                    node=node,
                    port=port,
                    plan_key=plan_key,
                    status=InstanceStatus.STARTING,
                )
            return InstanceRef.of(instance)
        except IntegrityError:
            continue  # another worker took that port a moment ago
    raise RuntimeError("could not reserve a port")


async def instance_launched(
    session: AsyncSession, *, instance_id: uuid.UUID, handle: ProcessHandle
) -> None:
    instance = await InstanceDAO(session).lock(instance_id)
    assert instance is not None
    instance.pid = handle.pid
    instance.monitor_pid = handle.monitor_pid
    instance.proc_start = handle.start_time


async def instance_crashed_on_start(
    session: AsyncSession, *, instance_id: uuid.UUID, exit_code: int | None
) -> None:
    instance = await InstanceDAO(session).lock(instance_id)
    assert instance is not None
    instance.last_exit_code = exit_code
    instance.crash_times = [*instance.crash_times, datetime.now(UTC).isoformat()]


async def instance_routed(session: AsyncSession, *, instance_id: uuid.UUID) -> None:
    instance = await InstanceDAO(session).lock(instance_id)
    assert instance is not None
    instance.routed = True


async def instance_live(
    session: AsyncSession,
    *,
    app_id: uuid.UUID,
    instance_id: uuid.UUID,
    release_id: uuid.UUID,
    apps_domain: str,
) -> None:
    """The new instance serves: the app runs this release; billing starts charging it and
    monitoring watching it."""
    app = await locked_app(session, app_id)
    if app.status == AppStatus.DELETING:
        raise Cancelled(CANCELLED_BY[OperationKind.DELETE])
    instance = await InstanceDAO(session).lock(instance_id)
    assert instance is not None
    instance.status = InstanceStatus.RUNNING
    instance.started_at = datetime.now(UTC)
    instance.crash_times = []
    app.current_release_id = release_id
    app.suspended_by = None
    set_status(app, AppStatus.RUNNING)
    await events.instance_started(session, app, instance, apps_domain=apps_domain)


async def instance_stopping(session: AsyncSession, *, instance_id: uuid.UUID) -> InstanceRef | None:
    """Mark it stopping (the supervisor leaves it alone from now on); its current process,
    which may be newer than the caller's snapshot if the supervisor just restarted it."""
    instance = await InstanceDAO(session).lock(instance_id)
    if instance is None or instance.status not in LIVE_INSTANCE:
        return None
    instance.status = InstanceStatus.STOPPING
    return InstanceRef.of(instance)


async def instance_ended(
    session: AsyncSession,
    *,
    app_id: uuid.UUID,
    instance_id: uuid.UUID,
    status: str,
    reason: str,
    event_key: str | None,
    exit_code: int | None = None,
) -> None:
    """stopped (or failed): the billed interval ends if the instance ever started."""
    app = await locked_app(session, app_id)
    instance = await InstanceDAO(session).lock(instance_id)
    assert instance is not None
    if instance.status in (InstanceStatus.STOPPED, InstanceStatus.FAILED):
        return
    instance.status = status
    instance.stopped_at = datetime.now(UTC)
    instance.stop_reason = reason[:500]
    instance.routed = False
    instance.next_restart_at = None
    if exit_code is not None:
        instance.last_exit_code = exit_code
    if event_key is not None and instance.started_at is not None:
        await events.instance_ended(session, event_key, app, instance, reason)


def _liveness(
    instance: Instance, owner_id: uuid.UUID, beat_at: datetime | None, fresh_after: datetime
) -> InstanceLiveness:
    """What the supervisor last knew of the instance's process, if it still watches."""
    since = instance.alive_changed_at or instance.started_at
    reason = None
    if beat_at is None or beat_at < fresh_after:
        state, since = "unknown", beat_at
        reason = (
            f"the supervisor of node {instance.node} has not ticked since {beat_at.isoformat()}"
            if beat_at
            else f"no supervisor has ticked on node {instance.node}"
        )
    elif instance.status == InstanceStatus.CRASHED:
        state = "crashed"
        reason = f"{instance.last_exit or 'exited'}; restart pending"
    else:
        state = "running"
    return InstanceLiveness(
        app_id=instance.app_id,
        instance_id=instance.id,
        owner_id=owner_id,
        release_id=instance.release_id,
        node=instance.node,
        process_type=ProcessType.WEB if instance.port is not None else ProcessType.WORKER,
        alive=state == "running",
        state=state,
        since=since,
        restarts=instance.restart_count,
        reason=reason,
        observed_at=beat_at,
    )


async def liveness(
    session: AsyncSession, *, after: uuid.UUID | None, limit: int, stale_seconds: float
) -> LivenessPage:
    """One page (by instance id) of every process that should be running, alive or not.

    Alive is the supervisor's word: it marks an instance crashed the tick it sees the process
    gone, and running again when it has relaunched it; a node whose supervisor stopped ticking
    has nobody watching, so its instances read unknown (not alive) rather than stale news."""
    dao = InstanceDAO(session)
    now = await dao.database_now()
    rows = await dao.serving_page(after, limit)
    fresh_after = now - timedelta(seconds=stale_seconds)
    items = [_liveness(i, owner, beat, fresh_after) for i, owner, beat in rows]
    next_after = items[-1].instance_id if len(items) == limit else None
    return LivenessPage(items=items, checked_at=now, next_after=next_after)
