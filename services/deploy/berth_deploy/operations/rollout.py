"""Putting a release into service and taking instances out of it.

Zero-downtime (web apps): start the new instance, wait for its health check, switch the
Traefik route, wait until Traefik serves the new instance, let in-flight requests drain, then
stop the old one (SIGTERM, grace, SIGKILL). Recreate (workers, n8n): stop, then start.
"""

import os
import stat
import time
import uuid
from pathlib import Path

import httpx

from berth_deploy import events
from berth_deploy.containers.flows import container_run
from berth_deploy.containers.service import DOCKERFILE_TEMPLATES
from berth_deploy.enums import (
    AppStatus,
    HealthCheckType,
    InstanceStatus,
    LogKind,
    OperationStep,
    RolloutStrategy,
)
from berth_deploy.env.service import plain_env
from berth_deploy.instances import service as instances
from berth_deploy.instances.service import InstanceRef
from berth_deploy.operations import service as operations
from berth_deploy.operations.executor import Cancelled, Job, NodeContext, StepFailed
from berth_deploy.releases import service as releases
from berth_deploy.sandbox.bubblewrap import SandboxUnavailable
from berth_deploy.sandbox.cgroups import Limits
from berth_deploy.sandbox.driver import ProcessHandle, ProcessSpec
from berth_deploy.sandbox.health import HealthCheck, probe_http
from berth_deploy.sandbox.layout import AppPaths

START_ATTEMPTS = 3
RUN_PATH = "/app/.venv/bin:/app/node_modules/.bin:/usr/local/bin:/usr/bin:/bin"
PROCFILE_MAX = 64 * 1024


def read_procfile(release_dir: Path) -> dict[str, str]:
    """The app's Procfile, never through a symlink (root must not read what it points at)."""
    try:
        fd = os.open(release_dir / "Procfile", os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError:
        return {}
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return {}
        data = os.read(fd, PROCFILE_MAX).decode("utf-8", errors="replace")
    finally:
        os.close(fd)
    entries = {}
    for line in data.splitlines():
        name, sep, command = line.partition(":")
        if sep and name.strip().isidentifier() and command.strip():
            entries.setdefault(name.strip(), command.strip())
    return entries


def run_command(app: dict, template: dict, release_dir: Path) -> str:
    if app["run_command"]:
        return app["run_command"]
    procfile = read_procfile(release_dir)
    return procfile.get(template["process_type"]) or template["run_command"]


def run_env(template: dict, values: dict[str, str], port: int | None) -> dict[str, str]:
    env = {**template["env"], **values, "PATH": RUN_PATH, "HOME": "/data"}
    if port is not None:
        env["PORT"] = str(port)
    return env


async def spawn(
    ctx: NodeContext,
    *,
    app: dict,
    template: dict,
    paths: AppPaths,
    instance: InstanceRef,
    release_id: uuid.UUID,
    env_values: dict[str, str],
    log: Path,
) -> ProcessHandle:
    """Start the instance's process in its sandbox, detached (it outlives the caller)."""
    where = f" on port {instance.port}" if instance.port else ""
    if app.get("image") or template["key"] in DOCKERFILE_TEMPLATES:
        return await spawn_container(
            ctx, app=app, template=template, paths=paths, instance=instance,
            release_id=release_id, env_values=env_values, log=log,
        )  # fmt: skip
    command = run_command(app, template, paths.release(release_id))
    ctx.logs.note(log, f"starting instance {instance.id}{where}: {command}")
    spec = ProcessSpec(
        name=instance.name,
        command=command,
        mounts=paths.mounts(release_id),
        env=run_env(template, env_values, instance.port),
        log_path=log,
        uid=paths.uid,
        limits=Limits(app["memory_mb"], app["cpu_millis"], app["pids_max"]),
        port=instance.port,
    )
    return await ctx.driver.launch(spec)


async def spawn_container(
    ctx: NodeContext,
    *,
    app: dict,
    template: dict,
    paths: AppPaths,
    instance: InstanceRef,
    release_id: uuid.UUID,
    env_values: dict[str, str],
    log: Path,
) -> ProcessHandle:
    """The release's image in crun, in the same sandbox (network, cgroups, uid) as an app."""
    run = container_run(paths, release_id)
    env = {**run.env, **template["env"], **env_values}
    if instance.port is not None:
        env["PORT"] = str(run.inner_port or instance.port)
    where = f" on port {instance.port}" if instance.port else ""
    inner = f" (container port {run.inner_port})" if run.inner_port else ""
    ctx.logs.note(log, f"starting container {instance.id}{where}{inner}: {' '.join(run.args)}")
    spec = ProcessSpec(
        name=instance.name,
        command="",
        mounts=paths.mounts(release_id),
        env=env,
        log_path=log,
        uid=paths.uid,
        limits=Limits(app["memory_mb"], app["cpu_millis"], app["pids_max"]),
        port=instance.port,
        container=run,
    )
    return await ctx.driver.launch(spec)


async def launch(
    job: Job, instance: InstanceRef, release_id: uuid.UUID, log: Path
) -> ProcessHandle:
    plain = await job.tx(plain_env, cipher=job.ctx.cipher, app_id=job.app_id)
    handle = await spawn(
        job.ctx,
        app=job.app,
        template=job.template,
        paths=job.paths,
        instance=instance,
        release_id=release_id,
        env_values=plain.values,
        log=log,
    )
    await job.tx(instances.instance_launched, instance_id=instance.id, handle=handle)
    return handle


async def wait_healthy(job: Job, handle: ProcessHandle, port: int | None) -> str | None:
    """None once healthy; "exited" when the process died first. StepFailed on timeout."""
    check = HealthCheck.from_template(job.template["health"])
    started = time.monotonic()
    deadline = started + check.timeout_seconds
    last = "no answer yet"
    async with httpx.AsyncClient() as client:
        while time.monotonic() < deadline:
            job.checkpoint()
            if not job.ctx.driver.alive(handle):
                return "exited"
            if check.type == HealthCheckType.PROCESS or port is None:
                if time.monotonic() - started >= check.stable_seconds:
                    return None
            else:
                bound = str(job.ctx.settings.app_bind_address)
                why = await probe_http(client, port, check, bound)
                if why is None:
                    return None
                last = why
            await job.sleep(0.1)
    raise StepFailed(
        f"health check did not pass within {int(check.timeout_seconds)}s (last: {last})"
    )


async def wait_exit_status(job: Job, handle: ProcessHandle, seconds: float = 3.0):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        status = job.ctx.driver.exit_status(handle.name)
        if status is not None:
            return status
        await job.sleep(0.05)
    return None


async def start_instance(job: Job, release_id: uuid.UUID, log: Path) -> InstanceRef:
    """A new healthy instance of the release; a process that keeps exiting is a crash loop."""
    settings = job.ctx.settings
    instance = await job.tx(
        instances.create_instance,
        app_id=job.app_id,
        release_id=release_id,
        op_id=job.claim.op_id,
        node=settings.node_name,
        plan_key=job.template["plan_key"],
        web=job.web,
        port_range=(settings.port_min, settings.port_max),
    )
    last = "exited"
    for attempt in range(1, START_ATTEMPTS + 1):
        try:
            handle = await launch(job, instance, release_id, log)
        except SandboxUnavailable as exc:  # fail closed: nothing of the app ran
            await end_instance(job, instance, InstanceStatus.FAILED, "sandbox unavailable", None)
            raise StepFailed(exc.message) from exc
        try:
            outcome = await wait_healthy(job, handle, instance.port)
        except (Cancelled, StepFailed, Exception):
            await job.ctx.driver.stop(handle, settings.stop_grace_seconds)
            await end_instance(job, instance, InstanceStatus.FAILED, "did not start", None)
            raise
        if outcome is None:
            return instance
        status = await wait_exit_status(job, handle)
        last = status.describe() if status else "exited"
        exit_code = status.exit_code if status else None
        await job.tx(
            instances.instance_crashed_on_start, instance_id=instance.id, exit_code=exit_code
        )
        job.note(f"the process {last} before passing its health check", log)
        if attempt < START_ATTEMPTS:
            delay = settings.restart_backoff_seconds * 2 ** (attempt - 1)
            job.note(f"restarting in {delay:g}s (attempt {attempt + 1} of {START_ATTEMPTS})", log)
            await job.sleep(delay)
    await end_instance(job, instance, InstanceStatus.FAILED, f"crash loop: {last}", None)
    raise StepFailed(
        f"crash loop: the process {last}, {START_ATTEMPTS} times in a row while starting; "
        "see the run log"
    )


async def end_instance(
    job: Job, instance: InstanceRef, status: str, reason: str, event_key: str | None
) -> None:
    exit_status = job.ctx.driver.exit_status(instance.name)
    job.ctx.driver.forget(instance.name)
    await job.tx(
        instances.instance_ended,
        app_id=job.app_id,
        instance_id=instance.id,
        status=status,
        reason=reason,
        event_key=event_key,
        exit_code=exit_status.exit_code if exit_status else None,
    )


async def stop_instances(
    job: Job, snapshots: list[InstanceRef], event_key: str, reason: str
) -> None:
    """Out of the route first (Traefik confirms), then SIGTERM, grace, SIGKILL."""
    settings = job.ctx.settings
    routes = job.ctx.routes
    slug = job.app["slug"]
    for snapshot in snapshots:
        instance = await job.tx(instances.instance_stopping, instance_id=snapshot.id)
        if instance is None:
            continue  # already ended meanwhile
        if instance.routed and (await routes.published()).get(slug) == str(instance.id):
            await routes.remove(slug, instance.id)
            await routes.wait(slug, instance.id, served=False, within=settings.route_wait_seconds)
        # another node's process (an app moving off a draining node) is stopped by that
        # node's supervisor once its row says it ended (supervisor/agent.py)
        if instance.handle is not None and instance.node == settings.node_name:
            await job.ctx.driver.stop(instance.handle, settings.stop_grace_seconds)
        await end_instance(job, instance, InstanceStatus.STOPPED, reason, event_key)


async def switch_to(
    job: Job, instance: InstanceRef, release_id: uuid.UUID, old: list[InstanceRef]
) -> None:
    """Route to the new instance (web apps) and make it the app's live one."""
    settings = job.ctx.settings
    if job.web:
        job.cancellable = False
        await job.step(OperationStep.ROUTE)
        await job.tx(instances.instance_routed, instance_id=instance.id)
        routes = job.ctx.routes
        slug = job.app["slug"]
        await routes.publish(slug, instance.port, instance.id)
        if not await routes.wait(
            slug, instance.id, served=True, within=settings.route_wait_seconds
        ):
            routed_old = [i for i in old if i.routed and i.port]
            if routed_old:
                back = routed_old[-1]
                await routes.publish(slug, back.port, back.id, node=back.node)
            else:
                await routes.remove(slug)
            await stop_instances(job, [instance], events.STOPPED, "route not served")
            raise StepFailed(
                f"Traefik did not serve the new route within {int(settings.route_wait_seconds)}s"
            )
    job.cancellable = False
    await job.tx(
        instances.instance_live,
        app_id=job.app_id,
        instance_id=instance.id,
        release_id=release_id,
        apps_domain=settings.apps_domain,
    )


async def rollout(job: Job, release_id: uuid.UUID) -> None:
    settings = job.ctx.settings
    number = await job.tx(releases.release_number, release_id=release_id)
    log = job.ctx.logs.path(job.app_id, release_id, LogKind.RUN)
    job.ctx.logs.prepare(job.app_id, release_id)
    job.log_path = log
    for leftover in await job.tx(instances.leftovers, op_id=job.claim.op_id):
        if leftover.handle is not None and leftover.node == settings.node_name:
            await job.ctx.driver.stop(leftover.handle, 1.0)
        await end_instance(job, leftover, InstanceStatus.FAILED, "left by a lost worker", None)
    old = await job.tx(instances.serving, app_id=job.app_id)
    replaced = f"replaced by release #{number}"
    went_live = await job.tx(instances.made_live_by, op_id=job.claim.op_id)
    if went_live is not None:
        # an earlier attempt's instance is live (routed, billed): its worker was lost after
        # that, so only the old instances' stop is left (one may be stopping already);
        # another start would go live twice
        job.cancellable = False
        others = await job.tx(instances.instances, app_id=job.app_id)
        await stop_old(job, [i for i in others if i.id != went_live.id], replaced)
        return
    if old and (job.template["rollout"] == RolloutStrategy.RECREATE or not job.web):
        job.cancellable = False  # from here the old instances are gone: go through with it
        await stop_instances(job, old, events.STOPPED, replaced)
        old = []
    await job.step(OperationStep.START)
    if not old:  # nothing serves meanwhile: the app shows it is starting
        await job.tx(
            operations.move_app,
            app_id=job.app_id,
            status=AppStatus.STARTING,
            when=(
                AppStatus.QUEUED,
                AppStatus.BUILDING,
                AppStatus.STOPPED,
                AppStatus.FAILED,
                AppStatus.SUSPENDED,
                AppStatus.RUNNING,
            ),
        )
    instance = await start_instance(job, release_id, log)
    try:
        await switch_to(job, instance, release_id, old)
    except Cancelled:  # the app is being deleted: its delete takes the rest away
        await stop_instances(job, [instance], events.STOPPED, "the deploy was cancelled")
        raise
    job.note(f"instance {instance.id} of release #{number} is live", log)
    await stop_old(job, old, replaced)


async def stop_old(job: Job, old: list[InstanceRef], reason: str) -> None:
    """The instances the new one replaced: drained, then stopped."""
    if old:
        await job.step(OperationStep.STOP_OLD)
        await job.sleep(job.ctx.settings.drain_seconds)
        await stop_instances(job, old, events.STOPPED, reason)
