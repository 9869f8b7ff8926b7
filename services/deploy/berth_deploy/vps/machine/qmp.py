"""A small QMP client: one connection per operation to a machine's control socket."""

import asyncio
import json
from pathlib import Path
from typing import Any


class QmpError(Exception):
    pass


class Qmp:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter):
        self.reader = reader
        self.writer = writer
        self.events: list[dict] = []

    @classmethod
    async def connect(cls, path: Path, seconds: float = 10) -> "Qmp":
        try:
            reader, writer = await asyncio.wait_for(
                asyncio.open_unix_connection(str(path), limit=16 * 2**20), seconds
            )
        except (OSError, TimeoutError) as exc:
            raise QmpError(f"QMP socket {path.name}: {exc}") from exc
        qmp = cls(reader, writer)
        await qmp._read(seconds)  # the greeting
        await qmp.command("qmp_capabilities", seconds=seconds)
        return qmp

    async def _read(self, seconds: float) -> dict:
        try:
            line = await asyncio.wait_for(self.reader.readline(), seconds)
        except ConnectionError as exc:  # reset: QEMU exited with our bytes still unread
            raise QmpError(f"QEMU closed its control socket ({exc})") from exc
        if not line:
            raise QmpError("QEMU closed its control socket")
        return json.loads(line)

    async def command(
        self, command: str, arguments: dict | None = None, seconds: float = 30
    ) -> Any:
        message: dict[str, Any] = {"execute": command}
        if arguments:
            message["arguments"] = arguments
        try:
            self.writer.write(json.dumps(message).encode() + b"\n")
            await self.writer.drain()
        except ConnectionError as exc:
            raise QmpError(f"QEMU closed its control socket ({exc})") from exc
        while True:
            reply = await self._read(seconds)
            if "event" in reply:
                self.events.append(reply)
                continue
            if "error" in reply:
                raise QmpError(f"{command}: {reply['error'].get('desc', reply['error'])}")
            return reply.get("return")

    async def hmp(self, command_line: str, seconds: float = 600) -> str:
        """An HMP command (savevm/loadvm/delvm have no synchronous QMP form in QEMU 7.2);
        its output is empty on success, the error text otherwise."""
        out = await self.command(
            "human-monitor-command", {"command-line": command_line}, seconds=seconds
        )
        return (out or "").strip()

    async def close(self) -> None:
        self.writer.close()
        try:
            await self.writer.wait_closed()
        except OSError:
            pass

    async def __aenter__(self) -> "Qmp":
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()
