"""Fixtures of the checker's tests: the run's database as monitoring's runtime role, a target
server on 127.0.0.2 (the only address tests' monitors reach), monitor and channel factories,
and one batch of the real checker driven on demand.

Each test makes its own owner and monitors, parked in the future until the test makes them
due, and suspends them when done, so tests never check each other's monitors.
"""

import asyncio
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from berth_common.db import Database
from berth_monitoring.checks.probes import Prober
from berth_monitoring.checks.service import RunStats, check_batch
from berth_monitoring.config import MonitoringSettings
from berth_monitoring.enums import ChannelKind, MonitorKind, Suppression
from berth_monitoring.models import SCHEMA, AlertChannel, Base, Monitor, MonitorChannel
from berth_monitoring.targets import TargetPolicy
from berth_testing.plugin import PlatformDatabase

__all__ = ["TargetServer", "checker", "checks_db", "checks_settings", "target_server"]

TARGET_HOST = "127.0.0.2"


@dataclass
class Reply:
    status: int = 200
    body: bytes = b"ok"
    delay: float = 0.0
    content_type: str = "text/plain"


@dataclass
class TargetServer:
    """A tiny HTTP/1.1 server on 127.0.0.2; `replies[path]` says how each path answers."""

    port: int = 0
    replies: dict[str, Reply] = field(default_factory=dict)
    requests: list[tuple[str, dict[str, str]]] = field(default_factory=list)

    def url(self, path: str) -> str:
        return f"http://{TARGET_HOST}:{self.port}{path}"

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            lines = head.decode("latin-1").split("\r\n")
            path = lines[0].split(" ")[1]
            headers = {
                k.strip().lower(): v.strip()
                for k, _, v in (line.partition(":") for line in lines[1:] if line)
            }
            self.requests.append((path, headers))
            reply = self.replies.get(path.split("?")[0], Reply(404, b"not found"))
            if reply.delay:
                await asyncio.sleep(reply.delay)
            writer.write(
                f"HTTP/1.1 {reply.status} X\r\nContent-Type: {reply.content_type}\r\n"
                f"Content-Length: {len(reply.body)}\r\nConnection: close\r\n\r\n".encode()
                + reply.body
            )
            await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.CancelledError):
            pass  # a client gone (a timed-out check), or the server closing
        finally:
            writer.close()


@pytest.fixture(scope="session")
async def target_server() -> AsyncIterator[TargetServer]:
    server = TargetServer()
    listener = await asyncio.start_server(server.handle, TARGET_HOST, 0)
    server.port = listener.sockets[0].getsockname()[1]
    async with listener:
        yield server
        listener.close()


@pytest.fixture(scope="session")
def checks_settings(berth_env: dict[str, str]) -> MonitoringSettings:
    return MonitoringSettings()


@pytest.fixture(scope="session")
async def checks_db(
    berth_env: dict[str, str], platform_database: PlatformDatabase
) -> AsyncIterator[Database]:
    """Monitoring's database as its processes see it: the runtime role, owning nothing."""
    db = Database(platform_database.runtime_url(SCHEMA), SCHEMA, metadata=Base.metadata)
    yield db
    await db.dispose()


class Checker:
    """Makes a test's monitors due and runs one batch of the real checker over them."""

    def __init__(self, db: Database, settings: MonitoringSettings):
        self.db = db
        self.settings = settings
        self.owner_id = uuid.uuid4()
        self.monitor_ids: list[uuid.UUID] = []
        self.backend: Any = None

    async def in_transaction(self, fn: Any, **kwargs: Any) -> Any:
        async with self.db.sessionmaker() as session:
            try:
                result = await fn(session, **kwargs)
                await session.commit()
            except BaseException:
                await session.rollback()
                raise
        return result

    async def monitor(self, **values: Any) -> uuid.UUID:
        defaults: dict[str, Any] = {
            "owner_id": self.owner_id,
            "name": f"m-{uuid.uuid4().hex[:6]}",
            "kind": MonitorKind.HTTP,
            "interval_seconds": 60,
            "timeout_seconds": 2.0,
            "failure_threshold": 3,
            "success_threshold": 2,
            "next_check_at": datetime.now(UTC) + timedelta(days=1),
        }
        defaults.update(values)

        async def add(session: AsyncSession) -> uuid.UUID:
            monitor = Monitor(**defaults)
            session.add(monitor)
            await session.flush()
            return monitor.id

        monitor_id = await self.in_transaction(add)
        self.monitor_ids.append(monitor_id)
        return monitor_id

    async def channel(self, *monitor_ids: uuid.UUID) -> uuid.UUID:
        async def add(session: AsyncSession) -> uuid.UUID:
            channel = AlertChannel(
                owner_id=self.owner_id,
                kind=ChannelKind.EMAIL,
                name="ops",
                target="ops@example.test",
            )
            session.add(channel)
            await session.flush()
            for monitor_id in monitor_ids:
                session.add(MonitorChannel(monitor_id=monitor_id, channel_id=channel.id))
            return channel.id

        return await self.in_transaction(add)

    async def set(self, monitor_id: uuid.UUID, **values: Any) -> None:
        async def change(session: AsyncSession) -> None:
            await session.execute(update(Monitor).where(Monitor.id == monitor_id).values(**values))

        await self.in_transaction(change)

    async def get(self, monitor_id: uuid.UUID) -> Monitor:
        async with self.db.sessionmaker() as session:
            return (
                await session.execute(select(Monitor).where(Monitor.id == monitor_id))
            ).scalar_one()

    async def tick(self, *monitor_ids: uuid.UUID) -> RunStats:
        """Make the monitors due now and run batches until none of them is due."""
        ids = list(monitor_ids or self.monitor_ids)

        async def due(session: AsyncSession) -> None:
            # the run's database is shared with the end-to-end tests: their monitors (targets
            # long gone) must not be claimed by these batches
            await session.execute(
                update(Monitor)
                .where(Monitor.owner_id != self.owner_id, Monitor.suppressed.is_(None))
                .values(suppressed=Suppression.PAUSED)
            )
            await session.execute(
                update(Monitor)
                .where(Monitor.id.in_(ids))
                .values(next_check_at=datetime.now(UTC) - timedelta(milliseconds=10))
            )

        await self.in_transaction(due)
        stats = RunStats()
        policy = TargetPolicy.from_settings(self.settings)
        async with Prober(self.settings, policy, concurrency=50, user_backend=self.backend) as p:
            while await self.in_transaction(check_batch, prober=p, limit=100, stats=stats):
                pass
        return stats

    async def park(self) -> None:
        if self.monitor_ids:

            async def stop(session: AsyncSession) -> None:
                await session.execute(
                    update(Monitor)
                    .where(Monitor.id.in_(self.monitor_ids))
                    .values(suppressed=Suppression.PAUSED)
                )

            await self.in_transaction(stop)


@pytest.fixture
async def checker(
    checks_db: Database, checks_settings: MonitoringSettings
) -> AsyncIterator[Checker]:
    made = Checker(checks_db, checks_settings)
    yield made
    await made.park()
