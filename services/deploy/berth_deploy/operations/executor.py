"""Running one leased operation in a worker: the heartbeat that keeps the lease and carries
cancel requests, watched build processes (killed as a group on cancel or timeout), and the
outcome written back whatever happens."""

import asyncio
import os
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from billiard.exceptions import SoftTimeLimitExceeded
from loguru import logger

from berth_deploy.config import DeploySettings
from berth_deploy.enums import OperationStatus, OperationStep, ProcessType
from berth_deploy.env.service import EnvCipher
from berth_deploy.logs.store import LogStore
from berth_deploy.operations import leases
from berth_deploy.operations.leases import CancelRequest, Claim, LeaseLost
from berth_deploy.sandbox.bubblewrap import SandboxUnavailable
from berth_deploy.sandbox.driver import ProcessDriver
from berth_deploy.sandbox.layout import AppPaths
from berth_deploy.sandbox.routes import RouteTable

Tx = Callable[..., Awaitable[Any]]


class Cancelled(Exception):
    """The operation was cancelled (by its requester, or because the app is being deleted);
    what it started has been undone."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


class StepFailed(Exception):
    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


@dataclass
class NodeContext:
    """What operations run with in this process (one per worker or supervisor process)."""

    settings: DeploySettings
    tx: Tx  # tx(fn, **kwargs): fn(session, **kwargs) in its own committed transaction
    driver: ProcessDriver
    routes: RouteTable
    logs: LogStore
    cipher: EnvCipher


def worker_identity(settings: DeploySettings) -> str:
    return f"{settings.node_name}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


class Job:
    def __init__(self, ctx: NodeContext, claim: Claim, owner: str):
        self.ctx = ctx
        self.claim = claim
        self.owner = owner
        self.app = claim.app
        self.template = claim.template
        self.app_id: uuid.UUID = claim.app["id"]
        self.paths = AppPaths(
            ctx.settings.data_dir, self.app_id, ctx.settings.uid_base + claim.app["run_uid"]
        )
        self.cancel: CancelRequest | None = None
        self.cancellable = True
        self.lease_lost = False
        self.pgid: int | None = None
        self.log_path: Path | None = None

    @property
    def web(self) -> bool:
        return self.template["process_type"] == ProcessType.WEB

    async def tx(self, fn: Callable[..., Awaitable[Any]], **kwargs: Any) -> Any:
        return await self.ctx.tx(fn, **kwargs)

    def note(self, message: str, path: Path | None = None) -> None:
        target = path or self.log_path
        if target is not None:
            self.ctx.logs.note(target, message)

    async def heartbeat_forever(self) -> None:
        settings = self.ctx.settings
        while True:
            await asyncio.sleep(settings.heartbeat_seconds)
            try:
                cancel = await self.tx(
                    leases.heartbeat,
                    op_id=self.claim.op_id,
                    owner=self.owner,
                    lease_seconds=settings.lease_seconds,
                    pgid=self.pgid,
                )
            except LeaseLost:
                self.lease_lost = True
                return
            except Exception as exc:  # the database is away: the lease may lapse, not us
                logger.warning("heartbeat failed: {}", type(exc).__name__)
                continue
            self.cancel = cancel or self.cancel  # the latest word (a delete may follow)

    def checkpoint(self) -> None:
        if self.lease_lost:
            raise LeaseLost(str(self.claim.op_id))
        if self.cancel is not None and (self.cancellable or self.cancel.forced):
            raise Cancelled(self.cancel.reason)

    async def step(self, name: OperationStep, **values: Any) -> None:
        self.checkpoint()
        await self.tx(
            leases.set_step, op_id=self.claim.op_id, owner=self.owner, step=name, **values
        )

    async def sleep(self, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            self.checkpoint()
            await asyncio.sleep(min(0.1, left))

    async def watch(self, proc: asyncio.subprocess.Process, seconds: float, what: str) -> int:
        """Wait for a build process; kill its whole group on cancel, lost lease or timeout."""
        self.pgid = proc.pid
        deadline = time.monotonic() + seconds
        try:
            while True:
                try:
                    return await asyncio.wait_for(proc.wait(), 0.2)
                except TimeoutError:
                    pass
                if time.monotonic() > deadline:
                    raise StepFailed(f"{what} timed out after {int(seconds)}s")
                self.checkpoint()
        except BaseException:
            self.ctx.driver.kill_group(proc.pid)
            try:
                await asyncio.wait_for(proc.wait(), 10)
            except TimeoutError:
                logger.warning("process group {} did not exit after SIGKILL", proc.pid)
            raise
        finally:
            self.pgid = None


FlowFn = Callable[[Job], Awaitable[None]]


async def run_claim(ctx: NodeContext, claim: Claim, owner: str, flows: dict[str, FlowFn]) -> None:
    job = Job(ctx, claim, owner)
    log = logger.bind(operation_id=str(claim.op_id), app_id=str(job.app_id), kind=claim.kind)
    log.info("operation started (attempt {})", claim.attempt)
    beating = asyncio.create_task(job.heartbeat_forever())
    status, reason = OperationStatus.SUCCEEDED, None
    try:
        await flows[claim.kind](job)
    except Cancelled as exc:
        status, reason = OperationStatus.CANCELLED, exc.reason
    except LeaseLost:
        log.warning("lease lost: another worker or the reaper owns the operation now")
        return
    except StepFailed as exc:
        status, reason = OperationStatus.FAILED, exc.reason
    except SandboxUnavailable as exc:  # fail closed: nothing of the app ran
        status, reason = OperationStatus.FAILED, exc.message
    except SoftTimeLimitExceeded:
        status, reason = OperationStatus.FAILED, "the operation ran out of time"
    except Exception as exc:
        log.exception("operation crashed")
        status, reason = (
            OperationStatus.FAILED,
            f"internal error ({type(exc).__name__}); the platform logged it",
        )
    finally:
        beating.cancel()
    if reason:
        job.note(f"{claim.kind} {status}: {reason}")
    try:
        await ctx.tx(leases.finish, op_id=claim.op_id, owner=owner, status=status, reason=reason)
    except LeaseLost:
        log.warning("lease lost before the outcome was written")
        return
    log.info("operation {}{}", status, f": {reason}" if reason else "")


async def run_next(
    ctx: NodeContext, app_id: uuid.UUID, owner: str, flows: dict[str, FlowFn]
) -> bool:
    """Lease the app's next queued operation and run it to its end; False when there is none
    or another operation holds the app."""
    claim = await ctx.tx(
        leases.acquire,
        app_id=app_id,
        owner=owner,
        node=ctx.settings.node_name,
        lease_seconds=ctx.settings.lease_seconds,
    )
    if claim is None:
        return False
    await run_claim(ctx, claim, owner, flows)
    return True
