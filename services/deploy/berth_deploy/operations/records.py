"""The rows an operation writes as it goes: releases, instances, the app's status, and the
instance events billing charges by. Each function is one short transaction."""

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from berth_deploy import events
from berth_deploy.apps.dao import AppDAO
from berth_deploy.env.service import EnvCipher, PlainEnv, plain_env
from berth_deploy.models import App, Instance, Operation, Release
from berth_deploy.operations.dao import InstanceDAO, ReleaseDAO
from berth_deploy.operations.executor import Cancelled
from berth_deploy.operations.lifecycle import CANCELLED_BY, LIVE_INSTANCE, SERVING_INSTANCE
from berth_deploy.operations.service import set_status
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
        )


def process_name(instance_id: uuid.UUID) -> str:
    return f"i-{instance_id}"


async def _app(session: AsyncSession, app_id: uuid.UUID) -> App:
    app = await AppDAO(session).lock(app_id)
    assert app is not None
    return app


async def move_app(
    session: AsyncSession, *, app_id: uuid.UUID, status: str, when: tuple[str, ...], reason=None
) -> None:
    """Move the app to `status` if it is in one of `when` (a redeploy of a running app
    leaves it running)."""
    app = await _app(session, app_id)
    if app.status in when:
        set_status(app, status, reason)


async def begin_build(
    session: AsyncSession, *, op_id: uuid.UUID, app_id: uuid.UUID
) -> tuple[uuid.UUID, int]:
    """The release this deploy builds: a new one, or the one a lost attempt left."""
    app = await _app(session, app_id)
    op = await session.get(Operation, op_id)
    assert op is not None
    releases = ReleaseDAO(session)
    release = await releases.get(op.release_id) if op.release_id else None
    if release is None:
        release = await releases.create(
            app_id=app.id,
            number=await releases.next_number(app.id),
            branch=app.branch,
            created_by=op.requested_by or app.owner_id,
            status="building",
        )
        op.release_id = release.id
    release.status = "building"
    release.error = None
    if app.status in ("queued", "failed", "stopped", "created"):
        set_status(app, "building")
    await session.flush()
    return release.id, release.number


async def release_built(
    session: AsyncSession, *, release_id: uuid.UUID, commit_sha: str | None
) -> None:
    release = await session.get(Release, release_id)
    assert release is not None
    release.status = "ready"
    release.commit_sha = commit_sha
    release.built_at = datetime.now(UTC)


async def release_commit(session: AsyncSession, *, release_id: uuid.UUID, commit_sha: str) -> None:
    release = await session.get(Release, release_id)
    assert release is not None
    release.commit_sha = commit_sha


async def release_number(session: AsyncSession, *, release_id: uuid.UUID) -> int:
    release = await session.get(Release, release_id)
    assert release is not None
    return release.number


async def load_env(session: AsyncSession, *, cipher: EnvCipher, app_id: uuid.UUID) -> PlainEnv:
    return await plain_env(session, cipher, app_id)


async def instances(
    session: AsyncSession, *, app_id: uuid.UUID, statuses: tuple[str, ...] = LIVE_INSTANCE
) -> list[InstanceRef]:
    return [InstanceRef.of(i) for i in await InstanceDAO(session).live(app_id, statuses)]


async def serving(session: AsyncSession, *, app_id: uuid.UUID) -> list[InstanceRef]:
    return await instances(session, app_id=app_id, statuses=SERVING_INSTANCE)


async def leftovers(session: AsyncSession, *, op_id: uuid.UUID) -> list[InstanceRef]:
    """Instances an earlier, lost attempt of this operation was starting."""
    return [InstanceRef.of(i) for i in await InstanceDAO(session).starting_for(op_id)]


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
                    status="starting",
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
) -> None:
    """The new instance serves: the app runs this release; billing starts charging it."""
    app = await _app(session, app_id)
    if app.status == "deleting":
        raise Cancelled(CANCELLED_BY["delete"])
    instance = await InstanceDAO(session).lock(instance_id)
    assert instance is not None
    instance.status = "running"
    instance.started_at = datetime.now(UTC)
    instance.crash_times = []
    app.current_release_id = release_id
    app.suspended_by = None
    set_status(app, "running")
    await events.instance_started(session, app, instance)


async def instance_stopping(session: AsyncSession, *, instance_id: uuid.UUID) -> InstanceRef | None:
    """Mark it stopping (the supervisor leaves it alone from now on); its current process,
    which may be newer than the caller's snapshot if the supervisor just restarted it."""
    instance = await InstanceDAO(session).lock(instance_id)
    if instance is None or instance.status not in LIVE_INSTANCE:
        return None
    instance.status = "stopping"
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
    app = await _app(session, app_id)
    instance = await InstanceDAO(session).lock(instance_id)
    assert instance is not None
    if instance.status in ("stopped", "failed"):
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


async def prune_releases(session: AsyncSession, *, app_id: uuid.UUID, keep: int) -> list[uuid.UUID]:
    """Releases beyond the newest `keep` built ones lose their files (the current one stays)."""
    app = await _app(session, app_id)
    in_use = {i.release_id for i in await InstanceDAO(session).live(app_id)}
    pruned = []
    for release in (await ReleaseDAO(session).ready(app_id))[keep:]:
        if release.id == app.current_release_id or release.id in in_use:
            continue
        release.status = "pruned"
        pruned.append(release.id)
    return pruned


async def mark_deleted(session: AsyncSession, *, app_id: uuid.UUID) -> None:
    app = await _app(session, app_id)
    set_status(app, "deleted")
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
    app = await _app(session, app_id)
    if app.status == "deleting":
        return  # a delete was asked for meanwhile: it queues behind and takes the app from here
    if status == "suspended" and app.status in ("created", "stopped", "failed"):
        return  # nothing of it ran (its deploy was cancelled): nothing to suspend
    set_status(app, status, reason)
    app.suspended_by = suspended_by if status == "suspended" else None
