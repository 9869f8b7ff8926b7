"""The byte side of a console: the machine's console socket, the replayed tail of its log,
the output throttle, and which console of a VPS is open in this process.

A machine's console is one stream (QEMU's chardev socket serves one client at a time), so a
newer session of the same VPS takes over from an older one here (the older is closed 4429,
REPLACED) before it connects.
"""

import asyncio
import contextlib
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

#: where a VPS's console socket and console log are (the machine driver knows)
Locator = Callable[[uuid.UUID], tuple[Path, Path]]

READ_CHUNK = 16 * 1024
CONNECT_TIMEOUT_SECONDS = 5.0
TAKE_OVER_WAIT_SECONDS = 5.0


class OutputThrottle:
    """A token bucket over bytes: `take(n)` returns once n more bytes may go out. A console
    that floods is slowed to `rate` bytes a second (its reads stop, so the machine's own
    console backs up) and never starves the process's other work."""

    def __init__(self, rate: int, burst: int | None = None, clock=time.monotonic, sleep=None):
        self.rate = float(rate)
        self.burst = float(burst if burst is not None else rate)
        self.clock = clock
        self.sleep = sleep or asyncio.sleep
        self.tokens = self.burst
        self.stamp = clock()

    async def take(self, n: int) -> None:
        while True:
            now = self.clock()
            self.tokens = min(self.burst, self.tokens + (now - self.stamp) * self.rate)
            self.stamp = now
            if self.tokens >= min(n, self.burst):
                self.tokens -= n
                return
            await self.sleep((min(n, self.burst) - self.tokens) / self.rate)


def log_tail(path: Path, limit: int) -> bytes:
    """The last `limit` bytes of the console log, from a line start when it was cut (the
    screen then begins with a whole line); nothing when there is no log yet."""
    if limit <= 0:
        return b""
    try:
        with path.open("rb") as f:
            f.seek(0, 2)
            size = f.tell()
            start = max(0, size - limit)
            f.seek(start)
            data = f.read(limit)
    except (FileNotFoundError, IsADirectoryError, PermissionError):
        return b""
    if start > 0:
        newline = data.find(b"\n")
        if 0 <= newline < len(data) - 1:
            data = data[newline + 1 :]
    return data


async def connect(socket_path: Path) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """The machine's console socket; OSError or TimeoutError when it does not answer."""
    return await asyncio.wait_for(
        asyncio.open_unix_connection(str(socket_path), limit=READ_CHUNK * 4),
        CONNECT_TIMEOUT_SECONDS,
    )


@dataclass(eq=False)
class ConsoleLink:
    """One open console in this process: why it is closing (first reason wins) and how many
    bytes went each way (for the audit)."""

    vps_id: uuid.UUID
    user_id: uuid.UUID
    session_id: uuid.UUID
    close_code: int | None = None
    close_reason: str | None = None
    close_message: str = ""
    bytes_in: int = 0
    bytes_out: int = 0
    last_seen: float = field(default_factory=time.monotonic)
    closing: asyncio.Event = field(default_factory=asyncio.Event)
    finished: asyncio.Event = field(default_factory=asyncio.Event)

    def close(self, code: int, reason: str, message: str = "") -> None:
        if self.close_code is None:
            self.close_code, self.close_reason, self.close_message = code, reason, message
        self.closing.set()


class ConsoleRegistry:
    """The open console of each VPS in this process."""

    def __init__(self) -> None:
        self.links: dict[uuid.UUID, ConsoleLink] = {}

    async def take_over(self, link: ConsoleLink, replaced_code: int) -> None:
        """`link` becomes the VPS's console; an older one is closed and waited for (its
        socket must be let go before the machine serves the new one)."""
        older = self.links.get(link.vps_id)
        self.links[link.vps_id] = link
        if older is not None and older is not link:
            older.close(replaced_code, "replaced", "A newer console of this VPS was opened")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(older.finished.wait(), TAKE_OVER_WAIT_SECONDS)

    def release(self, link: ConsoleLink) -> None:
        if self.links.get(link.vps_id) is link:
            del self.links[link.vps_id]
        link.finished.set()

    def close_all(self, code: int) -> None:
        for link in list(self.links.values()):
            link.close(code, "server_shutdown", "The server is restarting: open the console again")


def machine_locator(state) -> Locator:
    """The machine driver's console socket and log of a VPS: the web process's driver (the
    one the VPS API uses, `state.vps_driver`, made on first use), KVM or the container
    fallback; both keep them under DEPLOY_DATA_DIR. No driver here: RuntimeError."""

    def locate(vps_id: uuid.UUID) -> tuple[Path, Path]:
        if not hasattr(state, "vps_driver"):
            from berth_deploy.vps.machine import machine_driver

            try:
                state.vps_driver = machine_driver(state.settings)
            except Exception:
                state.vps_driver = None
                raise
        driver = state.vps_driver
        if driver is None:
            raise RuntimeError("this process has no machine driver")
        return driver.console_socket(vps_id), driver.console_log(vps_id)

    return locate
