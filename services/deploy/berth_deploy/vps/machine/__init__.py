"""The machine driver's interface (the shared VPS contract). The driver itself is built on
branch vps-machine; this file is replaced by that branch's when it is merged."""

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from berth_deploy.config import DeploySettings


@dataclass(frozen=True)
class MachineSpec:
    vps_id: uuid.UUID
    hostname: str
    vcpus: int
    memory_mb: int
    disk_gb: int
    ssh_public_keys: tuple[str, ...]
    run_uid: int
    ssh_port: int
    image: str = "debian-12"


class MachineDriver(Protocol):
    kind: str

    async def ensure_image(
        self, image: str, progress: Callable[[str], None] | None = None
    ) -> None: ...
    async def create(self, spec: MachineSpec) -> None: ...
    async def start(self, spec: MachineSpec) -> None: ...
    async def stop(self, vps_id: uuid.UUID, *, hard: bool, timeout: float = 60) -> None: ...  # noqa: ASYNC109
    async def reboot(self, vps_id: uuid.UUID, *, hard: bool) -> None: ...
    async def state(self, vps_id: uuid.UUID) -> str: ...
    async def snapshot(self, vps_id: uuid.UUID, name: str) -> int: ...
    async def restore(self, vps_id: uuid.UUID, name: str) -> None: ...
    async def delete_snapshot(self, vps_id: uuid.UUID, name: str) -> None: ...
    async def resize(self, spec: MachineSpec) -> None: ...
    async def reinstall(self, spec: MachineSpec) -> None: ...
    async def destroy(self, vps_id: uuid.UUID) -> None: ...
    def console_socket(self, vps_id: uuid.UUID) -> Path: ...
    def console_log(self, vps_id: uuid.UUID) -> Path: ...
    def usage(self, vps_id: uuid.UUID) -> dict: ...


class NoMachineDriver(RuntimeError):
    pass


def machine_driver(settings: DeploySettings) -> MachineDriver:
    raise NoMachineDriver("this build has no machine driver (branch vps-machine not merged)")
