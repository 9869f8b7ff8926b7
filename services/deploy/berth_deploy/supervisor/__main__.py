"""The supervisor process: `python -m berth_deploy.supervisor`. It ticks while it holds this
node's leadership lock (a PostgreSQL advisory lock on a connection of its own) and stands by
while another supervisor of the node holds it."""

import asyncio
import signal
import time

from loguru import logger
from sqlalchemy.ext.asyncio import AsyncConnection

from berth_common.logging import configure_logging
from berth_common.worker import WorkerRuntime
from berth_deploy.config import DeploySettings, get_settings
from berth_deploy.models import SCHEMA, Base
from berth_deploy.node import build_node_context
from berth_deploy.supervisor import dao
from berth_deploy.supervisor.agent import Supervisor
from berth_deploy.vps.machine import MachineDriver, machine_driver


def vps_driver(settings: DeploySettings) -> MachineDriver | None:
    """This node's machine driver, or None where no VPS can run (its states are not watched)."""
    try:
        return machine_driver(settings)
    except Exception as exc:
        logger.info("no VPS machine driver on this node: {}", exc)
        return None


async def hold_leadership(worker: WorkerRuntime, node: str) -> AsyncConnection | None:
    """A connection holding this node's supervisor lock, or None (another one is active)."""
    conn = await worker.db.engine.connect()
    if await dao.try_leadership_lock(conn, node):
        return conn
    await conn.close()
    return None


class Leadership:
    """The lock connection: taken when free, checked each tick, dropped when it fails."""

    def __init__(self, worker: WorkerRuntime, node: str):
        self.worker = worker
        self.node = node
        self.conn: AsyncConnection | None = None

    async def held(self) -> bool:
        if self.conn is None:
            self.conn = await hold_leadership(self.worker, self.node)
            if self.conn is None:
                logger.info("another supervisor is active on this node: standing by")
        else:
            await dao.ping(self.conn)
        return self.conn is not None

    async def drop(self) -> None:
        if self.conn is not None:
            try:
                await self.conn.close()
            except Exception:  # noqa: S110 - the connection is already gone
                pass
            self.conn = None


async def tick_while_leading(supervisor: Supervisor, leadership: Leadership) -> None:
    try:
        if await leadership.held():
            await supervisor.tick()
    except Exception as exc:
        logger.warning("supervisor tick failed: {}", type(exc).__name__)
        await leadership.drop()


async def supervise(settings: DeploySettings, stopping: asyncio.Event) -> None:
    worker = WorkerRuntime(settings, SCHEMA, Base.metadata)
    ctx = build_node_context(settings, worker.in_transaction)
    supervisor = Supervisor(settings, worker, ctx, vps_driver=vps_driver(settings))
    leadership = Leadership(worker, settings.node_name)
    logger.info("deploy supervisor on node {}", settings.node_name)
    while not stopping.is_set():
        started = time.monotonic()
        await tick_while_leading(supervisor, leadership)
        pause = settings.supervise_interval_seconds - (time.monotonic() - started)
        try:
            await asyncio.wait_for(stopping.wait(), max(0.05, pause))
        except TimeoutError:
            pass
    await leadership.drop()
    await worker.db.dispose()
    logger.info("deploy supervisor stopped (apps keep running)")


async def main() -> None:
    settings = get_settings()
    configure_logging("deploy-supervisor", settings.log_level, settings.log_json)
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stopping.set)
    await supervise(settings, stopping)


if __name__ == "__main__":
    asyncio.run(main())
