"""What both machine drivers (KVM guests, system containers) share: the node's settings, the
base-image store, the sandbox, each machine's paths and one lock per machine."""

import asyncio
import uuid
from pathlib import Path

from berth_deploy.config import DeploySettings
from berth_deploy.sandbox.local import read_stat
from berth_deploy.vps.machine.config import MachineSettings
from berth_deploy.vps.machine.image import ImageStore
from berth_deploy.vps.machine.layout import MachinePaths
from berth_deploy.vps.machine.sandbox import MachineSandbox


def monitor_running(handle: dict | None) -> bool:
    """The launcher's monitor of that run is still at work. After the machine's process ends
    it stops the run's pasta (the SSH forward) and removes the run's cgroups: a new run of the
    same machine must wait for it, or the old monitor removes the new run's cgroups."""
    if not handle or not handle.get("monitor_pid"):
        return False
    stat = read_stat(handle["monitor_pid"])
    # started before the machine's process, or the pid is another process's by now
    return stat is not None and stat[1] not in ("Z", "X") and stat[3] <= handle["start_time"]


class MachineDriverBase:
    kind: str

    def __init__(self, settings: DeploySettings, machine: MachineSettings | None = None):
        self.settings = settings
        self.machine = machine or MachineSettings()
        images = self.machine.images_dir or settings.data_dir / "vps" / "images"
        self.images = ImageStore(images, self.machine)
        self.sandbox = MachineSandbox(settings, self.machine)
        self._locks: dict[uuid.UUID, asyncio.Lock] = {}

    def paths(self, vps_id: uuid.UUID) -> MachinePaths:
        return MachinePaths(self.settings.data_dir, vps_id)

    def console_socket(self, vps_id: uuid.UUID) -> Path:
        return self.paths(vps_id).console_socket

    def console_log(self, vps_id: uuid.UUID) -> Path:
        return self.paths(vps_id).console_log

    def _lock(self, vps_id: uuid.UUID) -> asyncio.Lock:
        return self._locks.setdefault(vps_id, asyncio.Lock())

    async def _settle(self, paths: MachinePaths, seconds: float = 15) -> None:
        """Wait for the last run's monitor to finish (its pasta stopped, cgroups removed)."""
        handle = paths.load().get("process")
        for _ in range(int(seconds / 0.05)):
            if not monitor_running(handle):
                return
            await asyncio.sleep(0.05)
