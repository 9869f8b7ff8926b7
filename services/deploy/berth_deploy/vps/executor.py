"""Running one leased VPS operation in a worker: the heartbeat that keeps the lease, the
driver calls of its flow (flows.py), and the outcome written back whatever happens."""

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from billiard.exceptions import SoftTimeLimitExceeded
from loguru import logger

from berth_common.errors import BerthError
from berth_deploy.config import DeploySettings
from berth_deploy.enums import OperationStatus
from berth_deploy.operations.executor import StepFailed
from berth_deploy.operations.leases import LeaseLost
from berth_deploy.vps import leases
from berth_deploy.vps.leases import VpsClaim
from berth_deploy.vps.machine import MachineDriver, MachineSpec

Tx = Callable[..., Awaitable[Any]]
SSH_PROBE_SECONDS = 3.0


@dataclass
class VpsNode:
    """What VPS operations run with in this process: settings, transactions, the driver."""

    settings: DeploySettings
    tx: Tx
    driver_factory: Callable[[DeploySettings], MachineDriver]
    _driver: MachineDriver | None = field(default=None, repr=False)

    @property
    def driver(self) -> MachineDriver:
        if self._driver is None:
            self._driver = self.driver_factory(self.settings)
        return self._driver


async def ssh_answers(host: str, port: int, within: float = SSH_PROBE_SECONDS) -> bool:
    """An SSH server's banner comes back (a bare TCP accept is not enough: the port forward
    accepts while the guest still boots)."""
    try:
        async with asyncio.timeout(within):
            reader, writer = await asyncio.open_connection(host, port)
            try:
                banner = await reader.readline()
            finally:
                writer.close()
    except (OSError, TimeoutError):
        return False
    return banner.startswith(b"SSH-")


def ssh_probe_host(settings: DeploySettings) -> str:
    """Where this node reaches its VPSes' SSH forwards: their bind address (loopback for
    any address)."""
    bind = settings.vps_ssh_bind_address
    return "127.0.0.1" if bind.is_unspecified else str(bind)


class VpsJob:
    def __init__(self, node: VpsNode, claim: VpsClaim, owner: str):
        self.node = node
        self.claim = claim
        self.owner = owner
        self.vps = claim.vps
        self.vps_id: uuid.UUID = claim.vps["id"]
        self.lease_lost = False

    @property
    def settings(self) -> DeploySettings:
        return self.node.settings

    @property
    def driver(self) -> MachineDriver:
        return self.node.driver

    def spec(self, **changes: Any) -> MachineSpec:
        v = {**self.vps, **changes}
        return MachineSpec(
            vps_id=self.vps_id,
            hostname=v["name"],
            vcpus=v["vcpus"],
            memory_mb=v["memory_mb"],
            disk_gb=v["disk_gb"],
            ssh_public_keys=(v["ssh_public_key"],),
            run_uid=self.settings.uid_base + v["run_uid"],
            ssh_port=v["ssh_port"],
            image=v["image"],
        )

    async def tx(self, fn: Callable[..., Awaitable[Any]], **kwargs: Any) -> Any:
        return await self.node.tx(fn, **kwargs)

    async def heartbeat_forever(self) -> None:
        while True:
            await asyncio.sleep(self.settings.heartbeat_seconds)
            try:
                await self.tx(
                    leases.heartbeat,
                    op_id=self.claim.op_id,
                    owner=self.owner,
                    lease_seconds=self.settings.lease_seconds,
                )
            except LeaseLost:
                self.lease_lost = True
                return
            except Exception as exc:  # the database is away: the lease may lapse, not us
                logger.warning("vps heartbeat failed: {}", type(exc).__name__)

    def checkpoint(self) -> None:
        if self.lease_lost:
            raise LeaseLost(str(self.claim.op_id))

    async def step(self, name: str) -> None:
        self.checkpoint()
        await self.tx(leases.set_step, op_id=self.claim.op_id, owner=self.owner, step=name)

    async def wait_ssh(self, *, went_down_first: bool = False) -> None:
        """Until the guest's SSH answers (after it first stopped answering, for a reboot)."""
        host, port = ssh_probe_host(self.settings), self.vps["ssh_port"]
        deadline = time.monotonic() + self.settings.vps_ssh_wait_seconds
        if went_down_first:
            down_by = time.monotonic() + min(60.0, self.settings.vps_ssh_wait_seconds / 2)
            while time.monotonic() < down_by and await ssh_answers(host, port, 1.0):
                self.checkpoint()
                await asyncio.sleep(0.5)
        while not await ssh_answers(host, port):
            self.checkpoint()
            state = await self.driver.state(self.vps_id)
            if state in ("stopped", "crashed"):
                raise StepFailed(f"the machine {state} before SSH answered")
            if time.monotonic() > deadline:
                raise StepFailed(
                    f"SSH did not answer within {int(self.settings.vps_ssh_wait_seconds)}s"
                )
            await asyncio.sleep(1.0)


FlowFn = Callable[[VpsJob], Awaitable[None]]


def _failure_text(exc: Exception) -> str:
    """A platform error's own message; anything else by its type only (no host paths)."""
    if isinstance(exc, BerthError):
        return exc.message[:500]
    return f"internal error ({type(exc).__name__}); the platform logged it"


async def _observed_state(job: VpsJob) -> str | None:
    try:
        return await job.driver.state(job.vps_id)
    except Exception as exc:
        logger.warning("machine state unknown after a failure: {}", type(exc).__name__)
        return None


async def run_claim(node: VpsNode, claim: VpsClaim, owner: str, flows: dict[str, FlowFn]):
    job = VpsJob(node, claim, owner)
    log = logger.bind(operation_id=str(claim.op_id), vps_id=str(job.vps_id), kind=claim.kind)
    log.info("vps operation started (attempt {})", claim.attempt)
    beating = asyncio.create_task(job.heartbeat_forever())
    status, reason = OperationStatus.SUCCEEDED, None
    try:
        await flows[claim.kind](job)
    except LeaseLost:
        log.warning("lease lost: another worker or the reaper owns the operation now")
        return
    except StepFailed as exc:
        status, reason = OperationStatus.FAILED, exc.reason
    except SoftTimeLimitExceeded:
        status, reason = OperationStatus.FAILED, "the operation ran out of time"
    except Exception as exc:
        log.exception("vps operation crashed")
        status, reason = OperationStatus.FAILED, _failure_text(exc)
    finally:
        beating.cancel()
    state = None if status == OperationStatus.SUCCEEDED else await _observed_state(job)
    try:
        await node.tx(
            leases.finish, op_id=claim.op_id, owner=owner, status=status, reason=reason, state=state
        )
    except LeaseLost:
        log.warning("lease lost before the outcome was written")
        return
    log.info("vps operation {}{}", status, f": {reason}" if reason else "")


async def run_next(node: VpsNode, vps_id: uuid.UUID, owner: str, flows: dict[str, FlowFn]) -> bool:
    claim = await node.tx(
        leases.acquire,
        vps_id=vps_id,
        owner=owner,
        node=node.settings.node_name,
        lease_seconds=node.settings.lease_seconds,
    )
    if claim is None:
        return False
    await run_claim(node, claim, owner, flows)
    return True
