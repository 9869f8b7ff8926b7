"""The supervisor's tick: leases reaped, this node's instances watched, the node's heartbeat,
silent nodes failed over, its VPSes' machine states recorded, routes reconciled, processes of
instances ended elsewhere stopped."""

import asyncio
from datetime import UTC, datetime

from loguru import logger

from berth_common.worker import WorkerRuntime
from berth_deploy.config import DeploySettings
from berth_deploy.enums import InstanceStatus, LogKind
from berth_deploy.env.service import plain_env
from berth_deploy.nodes import service as nodes
from berth_deploy.operations import leases
from berth_deploy.operations.executor import NodeContext
from berth_deploy.operations.rollout import spawn
from berth_deploy.sandbox.layout import AppPaths
from berth_deploy.sandbox.local import read_stat
from berth_deploy.supervisor import service
from berth_deploy.vps import leases as vps_leases
from berth_deploy.vps import liveness as vps_liveness
from berth_deploy.vps.machine import MachineDriver
from berth_deploy.vps.views import usage_of

RECONCILE_EVERY = 5
# ticks between looks at this node's VPS machines (well within DEPLOY_LIVENESS_STALE_SECONDS)
OBSERVE_VPS_EVERY = 3
# instances ended this recently may still have a process here (ended by another node's
# operation, or by a failover while this node was cut off)
ENDED_WINDOW_SECONDS = 86_400.0


class Supervisor:
    def __init__(
        self,
        settings: DeploySettings,
        worker: WorkerRuntime,
        ctx: NodeContext,
        vps_driver: MachineDriver | None = None,
    ):
        self.settings = settings
        self.worker = worker
        self.ctx = ctx
        # this node's machine driver (None: no VPS runs here, nothing to look at)
        self.vps_driver = vps_driver
        self.ticks = 0
        self.adopted_logged = False
        self.capacity = nodes.capacity_of(
            settings.node_host,
            settings.node_memory_mb,
            settings.node_cpus,
            settings.port_min,
            settings.port_max,
            (settings.vps_port_min, settings.vps_port_max),
            settings.node_web_url,
            vps_driver.kind if vps_driver is not None else None,
        )

    async def tick(self) -> None:
        self.ticks += 1
        await self.reap_leases()
        await self.watch_instances()
        await self.ctx.tx(service.beat, node=self.settings.node_name, capacity=self.capacity)
        await self.ctx.tx(nodes.fail_over_silent, down_after=self.settings.node_down_seconds)
        if self.ticks % OBSERVE_VPS_EVERY == 1:
            await self.observe_vpses()
        if self.ticks % RECONCILE_EVERY == 1:
            await self.reconcile_routes()
            await self.stop_ended()

    async def reap_leases(self) -> None:
        for reaped in await self.ctx.tx(
            leases.reap_expired, max_attempts=self.settings.max_attempts
        ):
            if reaped.pgid and reaped.node == self.settings.node_name:
                self.ctx.driver.kill_group(reaped.pgid)
        await self.ctx.tx(vps_leases.reap_expired, max_attempts=self.settings.max_attempts)

    async def observe_vpses(self) -> None:
        """This node's VPSes' machine states, for liveness asked on another node."""
        if self.vps_driver is None:
            return
        ids = await self.ctx.tx(vps_liveness.watched_here, node=self.settings.node_name)
        found = await asyncio.gather(*(vps_liveness.asked(self.vps_driver, i) for i in ids))
        states = dict(zip(ids, found, strict=True))
        usages = {
            i: usage
            for i, state in states.items()
            if state == "running" and (usage := usage_of(self.vps_driver, i)) is not None
        }
        if states:
            await self.ctx.tx(vps_liveness.observe, states=states, usages=usages)

    def _monitor_alive(self, pid: int | None) -> bool:
        stat = read_stat(pid) if pid else None
        return stat is not None and stat[1] not in ("Z", "X")

    async def watch_instances(self) -> None:
        rows = await self.ctx.tx(service.watched, node=self.settings.node_name)
        if not self.adopted_logged:
            live = [
                w for w in rows if w.instance.handle and self.ctx.driver.alive(w.instance.handle)
            ]
            logger.info("supervising {} instance(s), {} alive and adopted", len(rows), len(live))
            self.adopted_logged = True
        for w in rows:
            try:
                if w.instance.status == InstanceStatus.RUNNING:
                    await self._check_running(w)
                elif w.instance.status == InstanceStatus.CRASHED:
                    await self._restart_when_due(w)
                elif not w.operation_running and w.age_seconds > self.settings.lease_seconds:
                    await self._clean_abandoned(w)
            except Exception:
                logger.bind(instance_id=str(w.instance.id)).exception("supervising failed")

    def _paths(self, w: service.Watched) -> AppPaths:
        return AppPaths(
            self.settings.data_dir, w.app["id"], self.settings.uid_base + w.app["run_uid"]
        )

    async def _check_running(self, w: service.Watched) -> None:
        handle = w.instance.handle
        if handle is None or self.ctx.driver.alive(handle):
            return
        status = self.ctx.driver.exit_status(handle.name)
        if status is None and self._monitor_alive(handle.monitor_pid):
            return  # the monitor has not written the exit status yet
        s = self.settings
        decision = await self.ctx.tx(
            service.crashed,
            instance_id=w.instance.id,
            pid=handle.pid,
            exit_status=status,
            threshold=s.crash_loop_threshold,
            window=s.crash_loop_window_seconds,
            backoff=s.restart_backoff_seconds,
            backoff_max=s.restart_backoff_max_seconds,
        )
        if decision is None:
            return
        log = self.ctx.logs.path(w.app["id"], w.instance.release_id, LogKind.RUN)
        if decision.failed:
            self.ctx.logs.note(log, f"{decision.reason}: not restarting (app failed)")
            slug = w.app["slug"]
            await self.ctx.routes.remove(slug, w.instance.id)
            self.ctx.driver.forget(handle.name)
            logger.bind(instance_id=str(w.instance.id)).warning(decision.reason)
        else:
            self.ctx.logs.note(
                log,
                f"the process {decision.reason}; restarting in {decision.delay:g}s "
                f"(crash {decision.crashes} of {s.crash_loop_threshold} allowed "
                f"within {s.crash_loop_window_seconds}s)",
            )

    async def _restart_when_due(self, w: service.Watched) -> None:
        if w.next_restart_at is not None and w.next_restart_at > datetime.now(UTC):
            return
        plain = await self.ctx.tx(plain_env, cipher=self.ctx.cipher, app_id=w.app["id"])
        log = self.ctx.logs.path(w.app["id"], w.instance.release_id, LogKind.RUN)
        paths = self._paths(w)
        self.ctx.driver.forget(w.instance.name)

        async def start():
            return await spawn(
                self.ctx,
                app=w.app,
                template=w.template,
                paths=paths,
                instance=w.instance,
                release_id=w.instance.release_id,
                env_values=plain.values,
                log=log,
            )

        await self.ctx.tx(service.relaunched, instance_id=w.instance.id, spawn=start)

    async def _clean_abandoned(self, w: service.Watched) -> None:
        if w.instance.handle is not None:
            await self.ctx.driver.stop(w.instance.handle, 1.0)
        self.ctx.driver.forget(w.instance.name)
        if await self.ctx.tx(service.abandoned, instance_id=w.instance.id):
            logger.bind(instance_id=str(w.instance.id)).warning("abandoned instance cleaned up")

    async def reconcile_routes(self) -> None:
        """Routes to this node's instances match its routed ones; an app with no route at
        all gets one to its running instance here."""
        want = await self.ctx.tx(service.routed, node=self.settings.node_name)
        routes = self.ctx.routes
        everywhere = await routes.published()
        for slug, instance_id in (await routes.published(node=self.settings.node_name)).items():
            ids = {i for i, _, _ in want.get(slug, [])}
            if instance_id in ids:
                continue
            running = [(i, p) for i, p, st in want.get(slug, []) if st == InstanceStatus.RUNNING]
            if running:
                await routes.publish(slug, running[-1][1], running[-1][0])
            else:
                await routes.remove(slug, instance_id)
            logger.info("route of {} reconciled", slug)
        for slug, entries in want.items():
            running = [(i, p) for i, p, st in entries if st == InstanceStatus.RUNNING]
            if slug not in everywhere and running:
                await routes.publish(slug, running[-1][1], running[-1][0])
                logger.info("route of {} restored", slug)

    async def stop_ended(self) -> None:
        """Stop processes here whose instance rows ended: another node's operation moved
        the app (a drain), or a failover gave this node up while it was cut off."""
        ended = await self.ctx.tx(
            service.ended_here, node=self.settings.node_name, within=ENDED_WINDOW_SECONDS
        )
        for instance in ended:
            handle = instance.handle
            if handle is None or not self.ctx.driver.alive(handle):
                continue
            await self.ctx.driver.stop(handle, self.settings.stop_grace_seconds)
            self.ctx.driver.forget(instance.name)
            logger.bind(instance_id=str(instance.id)).info(
                "stopped the process of an ended instance"
            )
