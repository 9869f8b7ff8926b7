"""What both machine drivers (KVM guests, system containers) share: the node's settings, the
base-image store, the sandbox, each machine's paths and one lock per machine."""

import asyncio
import uuid
from pathlib import Path

from berth_deploy.config import DeploySettings
from berth_deploy.vps.machine.config import MachineSettings
from berth_deploy.vps.machine.image import ImageStore
from berth_deploy.vps.machine.layout import MachinePaths
from berth_deploy.vps.machine.sandbox import MachineSandbox


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
