"""What the node supervisor decides about this node's instances (short transactions).

A running instance whose process is gone crashed: it is restarted after a backoff that
doubles with each recent crash, until `crash_loop_threshold` crashes within
`crash_loop_window_seconds` make it a crash loop: the instance fails, its route goes, the app
is `failed` with the reason, and billing hears the instance stopped.
"""

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from berth_deploy import events
from berth_deploy.apps.dao import AppDAO
from berth_deploy.enums import AppStatus, InstanceStatus, OperationStatus
from berth_deploy.instances.dao import InstanceDAO
from berth_deploy.instances.service import InstanceRef
from berth_deploy.models import App, Instance
from berth_deploy.nodes import service as nodes
from berth_deploy.operations.leases import APP_FIELDS, TEMPLATE_FIELDS
from berth_deploy.operations.lifecycle import SERVING_INSTANCE
from berth_deploy.operations.service import set_status
from berth_deploy.sandbox.driver import ExitStatus, ProcessHandle
from berth_deploy.supervisor.dao import SupervisedInstanceDAO, SupervisorBeatDAO


@dataclass(frozen=True)
class Watched:
    instance: InstanceRef
    app: dict[str, Any]
    template: dict[str, Any]
    next_restart_at: datetime | None
    operation_running: bool
    age_seconds: float


@dataclass(frozen=True)
class CrashDecision:
    failed: bool
    delay: float
    crashes: int
    reason: str


async def beat(session: AsyncSession, *, node: str, capacity: nodes.Capacity) -> None:
    """This node's processes are being watched (the liveness endpoint trusts rows this
    fresh), and the node is alive with this capacity (placement reads it)."""
    await SupervisorBeatDAO(session).beat(node)
    await nodes.heartbeat(session, node=node, capacity=capacity)


async def ended_here(session: AsyncSession, *, node: str, within: float) -> list[InstanceRef]:
    """This node's instances that ended in the last `within` seconds (their process may
    still run: another node's operation, or a failover, ended them)."""
    horizon = datetime.now(UTC) - timedelta(seconds=within)
    return [
        InstanceRef.of(i) for i in await SupervisedInstanceDAO(session).ended_since(node, horizon)
    ]


async def watched(session: AsyncSession, *, node: str) -> list[Watched]:
    now = datetime.now(UTC)
    return [
        Watched(
            instance=InstanceRef.of(instance),
            app={f: getattr(app, f) for f in APP_FIELDS},
            template={f: getattr(template, f) for f in TEMPLATE_FIELDS},
            next_restart_at=instance.next_restart_at,
            operation_running=op_status == OperationStatus.RUNNING,
            age_seconds=(now - instance.created_at).total_seconds(),
        )
        for instance, app, template, op_status in await SupervisedInstanceDAO(session).watched(node)
    ]


def _recent(times: list[str], window: int, now: datetime) -> list[str]:
    horizon = now - timedelta(seconds=window)
    return [t for t in times if datetime.fromisoformat(t) >= horizon]


async def crashed(
    session: AsyncSession,
    *,
    instance_id: uuid.UUID,
    pid: int | None,
    exit_status: ExitStatus | None,
    threshold: int,
    window: int,
    backoff: float,
    backoff_max: float,
) -> CrashDecision | None:
    """Record a crash of a running instance; None when the row moved on meanwhile."""
    instance = await InstanceDAO(session).lock(instance_id)
    if instance is None or instance.status != InstanceStatus.RUNNING or instance.pid != pid:
        return None
    app = await AppDAO(session).lock(instance.app_id)
    assert app is not None
    now = datetime.now(UTC)
    times = [*_recent(instance.crash_times, window, now), now.isoformat()]
    described = exit_status.describe() if exit_status else "exited (status unknown)"
    instance.crash_times = times
    instance.last_exit_code = exit_status.exit_code if exit_status else None
    instance.last_exit = described[:200]
    instance.alive_changed_at = now
    if len(times) >= threshold:
        reason = f"crash loop: the process {described}; {len(times)} crashes within {window}s"
        await _fail_crash_loop(session, instance, app, now, reason)
        return CrashDecision(True, 0.0, len(times), reason)
    delay = min(backoff * 2 ** (len(times) - 1), backoff_max)
    instance.status = InstanceStatus.CRASHED
    instance.next_restart_at = now + timedelta(seconds=delay)
    return CrashDecision(False, delay, len(times), described)


async def _fail_crash_loop(
    session: AsyncSession, instance: Instance, app: App, now: datetime, reason: str
) -> None:
    """The instance fails and loses its route; the app fails if nothing else serves it."""
    instance.status = InstanceStatus.FAILED
    instance.stopped_at = now
    instance.stop_reason = reason[:500]
    instance.routed = False
    instance.next_restart_at = None
    others = [
        i for i in await InstanceDAO(session).live(app.id, SERVING_INSTANCE) if i.id != instance.id
    ]
    if not others and app.status == AppStatus.RUNNING:
        set_status(app, AppStatus.FAILED, reason)
    if instance.started_at is not None:
        await events.instance_ended(session, events.STOPPED, app, instance, "crash_loop")


async def relaunched(
    session: AsyncSession, *, instance_id: uuid.UUID, spawn: Any
) -> ProcessHandle | None:
    """Restart a crashed instance, holding its row so a stop cannot slip in between."""
    instance = await InstanceDAO(session).lock(instance_id)
    if instance is None or instance.status != InstanceStatus.CRASHED:
        return None
    handle: ProcessHandle = await spawn()
    instance.pid = handle.pid
    instance.monitor_pid = handle.monitor_pid
    instance.proc_start = handle.start_time
    instance.status = InstanceStatus.RUNNING
    instance.restart_count += 1
    instance.next_restart_at = None
    instance.alive_changed_at = datetime.now(UTC)
    return handle


async def abandoned(session: AsyncSession, *, instance_id: uuid.UUID) -> bool:
    """A starting instance whose operation is gone (its worker died): mark it failed."""
    instance = await InstanceDAO(session).lock(instance_id)
    if instance is None or instance.status != InstanceStatus.STARTING:
        return False
    instance.status = InstanceStatus.FAILED
    instance.stopped_at = datetime.now(UTC)
    instance.stop_reason = "abandoned: the operation starting it was lost"
    return True


async def routed(session: AsyncSession, *, node: str) -> dict[str, list[tuple[str, int, str]]]:
    """slug -> [(instance id, port, status)] of the instances that should have a route."""
    found: dict[str, list[tuple[str, int, str]]] = {}
    for slug, instance_id, port, status in await SupervisedInstanceDAO(session).routed(node):
        found.setdefault(slug, []).append((str(instance_id), port, status))
    return found
