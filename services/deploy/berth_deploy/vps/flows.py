"""What each VPS operation does with the machine driver, step by step. Every flow can be run
again after a lost worker (the reaper re-queues it): it looks at the machine's state first."""

import uuid

from loguru import logger

from berth_deploy.operations.executor import StepFailed
from berth_deploy.vps import lifecycle
from berth_deploy.vps.enums import VpsOperationKind as K
from berth_deploy.vps.enums import VpsStatus
from berth_deploy.vps.executor import FlowFn, VpsJob


async def _is_running(job: VpsJob) -> bool:
    return await job.driver.state(job.vps_id) in ("running", "paused")


async def _boot(job: VpsJob, **spec_changes) -> None:
    """Start the machine (if it is not running) and wait for its SSH: it runs, billed."""
    if not await _is_running(job):
        await job.step("start")
        await job.driver.start(job.spec(**spec_changes))
    await job.step("wait_ssh")
    await job.wait_ssh()
    await job.tx(lifecycle.running, vps_id=job.vps_id, ssh_host=job.settings.vps_ssh_host)


async def _halt(job: VpsJob, *, hard: bool) -> None:
    if await job.driver.state(job.vps_id) != "stopped":
        await job.step("stop")
        await job.driver.stop(job.vps_id, hard=hard, timeout=job.settings.vps_stop_timeout_seconds)
    state = await job.driver.state(job.vps_id)
    if state not in ("stopped", "crashed"):
        raise StepFailed(f"the machine is still {state} after the stop")


async def create(job: VpsJob) -> None:
    if job.claim.attempt > 1:  # a lost worker's half-made machine goes first
        await job.step("clean_up")
        await job.driver.destroy(job.vps_id)
    await job.step("image")

    def progress(line: str) -> None:
        logger.bind(vps_id=str(job.vps_id)).info("image: {}", line[:200])

    await job.driver.ensure_image(job.vps["image"], progress)
    await job.tx(lifecycle.kind_is, vps_id=job.vps_id, kind=job.driver.kind)
    await job.step("create")
    await job.driver.create(job.spec())
    await job.tx(lifecycle.moved, vps_id=job.vps_id, status=VpsStatus.STARTING)
    await _boot(job)


async def start(job: VpsJob) -> None:
    await _boot(job)


async def resume(job: VpsJob) -> None:
    await job.tx(lifecycle.moved, vps_id=job.vps_id, status=VpsStatus.STARTING)
    await _boot(job)


async def stop(job: VpsJob) -> None:
    await _halt(job, hard=bool(job.claim.params.get("hard")))
    await job.tx(
        lifecycle.stopped, vps_id=job.vps_id, origin=job.claim.origin, suspended=False, reason=None
    )


async def suspend(job: VpsJob) -> None:
    await _halt(job, hard=False)
    await job.tx(
        lifecycle.stopped,
        vps_id=job.vps_id,
        origin=job.claim.origin,
        suspended=True,
        reason=job.claim.reason,
    )


async def reboot(job: VpsJob) -> None:
    await job.step("reboot")
    await job.driver.reboot(job.vps_id, hard=False)
    await job.step("wait_ssh")
    await job.wait_ssh(went_down_first=True)
    await job.tx(lifecycle.running, vps_id=job.vps_id, ssh_host=job.settings.vps_ssh_host)


async def reset(job: VpsJob) -> None:
    if not await _is_running(job):
        await _boot(job)
        return
    await job.step("reset")
    await job.driver.reboot(job.vps_id, hard=True)
    await job.step("wait_ssh")
    await job.wait_ssh()
    await job.tx(lifecycle.running, vps_id=job.vps_id, ssh_host=job.settings.vps_ssh_host)


async def reinstall(job: VpsJob) -> None:
    await _halt(job, hard=True)
    await job.step("reinstall")
    await job.driver.ensure_image(job.vps["image"])
    await job.driver.reinstall(job.spec())
    await _boot(job)


async def resize(job: VpsJob) -> None:
    sizes = {k: int(job.claim.params[k]) for k in ("vcpus", "memory_mb", "disk_gb")}
    was_running = job.claim.status_before == VpsStatus.RUNNING
    await _halt(job, hard=False)
    await job.step("resize")
    await job.driver.resize(job.spec(**sizes))
    await job.tx(lifecycle.resized, vps_id=job.vps_id, **sizes)
    if was_running:
        await _boot(job, **sizes)
    else:
        await job.tx(
            lifecycle.stopped, vps_id=job.vps_id, origin="user", suspended=False, reason=None
        )


def _snapshot_id(job: VpsJob) -> uuid.UUID:
    return uuid.UUID(str(job.claim.params["snapshot_id"]))


def _machine_name(snapshot_id: uuid.UUID) -> str:
    return f"s-{snapshot_id.hex}"


async def snapshot(job: VpsJob) -> None:
    snapshot_id = _snapshot_id(job)
    await job.step("snapshot")
    size = await job.driver.snapshot(job.vps_id, _machine_name(snapshot_id))
    await job.tx(lifecycle.snapshot_ready, snapshot_id=snapshot_id, size=int(size))


async def restore(job: VpsJob) -> None:
    snapshot_id = _snapshot_id(job)
    was_running = job.claim.status_before == VpsStatus.RUNNING
    await _halt(job, hard=False)
    await job.step("restore")
    await job.driver.restore(job.vps_id, _machine_name(snapshot_id))
    if was_running:
        await _boot(job)
    else:
        await job.tx(
            lifecycle.stopped, vps_id=job.vps_id, origin="user", suspended=False, reason=None
        )


async def delete_snapshot(job: VpsJob) -> None:
    snapshot_id = _snapshot_id(job)
    await job.step("delete_snapshot")
    await job.driver.delete_snapshot(job.vps_id, _machine_name(snapshot_id))
    await job.tx(lifecycle.snapshot_deleted, snapshot_id=snapshot_id)


async def delete(job: VpsJob) -> None:
    await job.step("destroy")
    await job.driver.destroy(job.vps_id)
    await job.tx(lifecycle.deleted, vps_id=job.vps_id)


FLOWS: dict[str, FlowFn] = {
    K.CREATE: create,
    K.START: start,
    K.RESUME: resume,
    K.STOP: stop,
    K.SUSPEND: suspend,
    K.REBOOT: reboot,
    K.RESET: reset,
    K.REINSTALL: reinstall,
    K.RESIZE: resize,
    K.SNAPSHOT: snapshot,
    K.RESTORE: restore,
    K.DELETE_SNAPSHOT: delete_snapshot,
    K.DELETE: delete,
}
