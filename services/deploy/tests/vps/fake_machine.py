"""A TEST DOUBLE of the machine driver (berth_deploy.vps.machine's MachineDriver), for the unit
tests of the VPS state machine only: the machines are dicts, their "disk" a dict of files, and
a running one answers SSH's banner on its real 127.0.0.1 port (so the API's SSH wait is real).
The e2e test (tests/e2e/test_vps_lifecycle.py) uses the real driver."""

import asyncio
import copy
import uuid
from pathlib import Path
from typing import Any

BANNER = b"SSH-2.0-berth-test-double\r\n"


class FakeMachine:
    kind = "container"

    def __init__(self) -> None:
        self.machines: dict[uuid.UUID, dict[str, Any]] = {}
        self.servers: dict[uuid.UUID, asyncio.AbstractServer] = {}
        self.calls: list[tuple[str, uuid.UUID | str]] = []
        # the next call of this name raises (a test of failures)
        self.fail: dict[str, Exception] = {}

    def _hit(self, name: str, subject: uuid.UUID | str) -> None:
        self.calls.append((name, subject))
        if name in self.fail:
            raise self.fail.pop(name)

    async def _answer(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(BANNER)
        try:
            await writer.drain()
        finally:
            writer.close()

    async def _listen(self, vps_id: uuid.UUID) -> None:
        port = self.machines[vps_id]["spec"].ssh_port
        self.servers[vps_id] = await asyncio.start_server(self._answer, "127.0.0.1", port)

    async def _unlisten(self, vps_id: uuid.UUID) -> None:
        server = self.servers.pop(vps_id, None)
        if server is not None:
            server.close()
            await server.wait_closed()

    async def ensure_image(self, image: str, progress=None) -> None:
        self._hit("ensure_image", image)
        if progress:
            progress(f"{image}: cached")

    async def create(self, spec) -> None:
        self._hit("create", spec.vps_id)
        self.machines[spec.vps_id] = {"spec": spec, "state": "stopped", "disk": {}, "snaps": {}}

    async def start(self, spec) -> None:
        self._hit("start", spec.vps_id)
        machine = self.machines[spec.vps_id]
        machine["spec"] = spec
        machine["state"] = "running"
        await self._listen(spec.vps_id)

    async def stop(self, vps_id, *, hard: bool, timeout: float = 60) -> None:
        self._hit("stop_hard" if hard else "stop", vps_id)
        await self._unlisten(vps_id)
        self.machines[vps_id]["state"] = "stopped"

    async def reboot(self, vps_id, *, hard: bool) -> None:
        self._hit("reset" if hard else "reboot", vps_id)
        await self._unlisten(vps_id)

        async def back() -> None:
            await asyncio.sleep(0.3)
            await self._listen(vps_id)

        self.machines[vps_id]["rebooting"] = asyncio.get_running_loop().create_task(back())

    async def state(self, vps_id) -> str:
        machine = self.machines.get(vps_id)
        return machine["state"] if machine else "stopped"

    async def snapshot(self, vps_id, name: str) -> int:
        self._hit("snapshot", vps_id)
        machine = self.machines[vps_id]
        machine["snaps"][name] = copy.deepcopy(machine["disk"])
        return 4096 * (1 + len(machine["disk"]))

    async def restore(self, vps_id, name: str) -> None:
        self._hit("restore", vps_id)
        machine = self.machines[vps_id]
        machine["disk"] = copy.deepcopy(machine["snaps"][name])

    async def delete_snapshot(self, vps_id, name: str) -> None:
        self._hit("delete_snapshot", vps_id)
        del self.machines[vps_id]["snaps"][name]

    async def resize(self, spec) -> None:
        self._hit("resize", spec.vps_id)
        self.machines[spec.vps_id]["spec"] = spec

    async def reinstall(self, spec) -> None:
        self._hit("reinstall", spec.vps_id)
        self.machines[spec.vps_id]["disk"] = {}

    async def destroy(self, vps_id) -> None:
        self._hit("destroy", vps_id)
        await self._unlisten(vps_id)
        self.machines.pop(vps_id, None)

    def console_socket(self, vps_id) -> Path:
        return Path("/nonexistent") / f"{vps_id}.sock"

    def console_log(self, vps_id) -> Path:
        return Path("/nonexistent") / f"{vps_id}.log"

    def usage(self, vps_id) -> dict:
        machine = self.machines[vps_id]
        return {
            "cpu_seconds": 1.5,
            "memory_bytes": machine["spec"].memory_mb * 1024 * 1024,
            "disk_bytes": 1000 * (1 + len(machine["disk"])),
        }
