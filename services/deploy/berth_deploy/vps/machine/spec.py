"""The machine driver's interface (the VPS contract): what the VPS API codes against."""

import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from berth_common.errors import Conflict, NotFound, ServiceUnavailable, Unprocessable

Progress = Callable[[str], None]

#: snapshot names go into QEMU monitor commands: nothing but these characters
SNAPSHOT_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
HOSTNAME = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")
IMAGES = ("debian-12",)


class MachineUnavailable(ServiceUnavailable):
    """The node cannot run the machine (no hypervisor, isolation, image): nothing started."""

    code = "vps_machine_unavailable"


class MachineNotFound(NotFound):
    code = "vps_machine_not_found"


class MachineStateConflict(Conflict):
    code = "vps_machine_state_conflict"


class InvalidMachineRequest(Unprocessable):
    code = "vps_machine_invalid"


@dataclass(frozen=True)
class MachineSpec:
    vps_id: uuid.UUID
    hostname: str  # a DNS label, the VPS's slug
    vcpus: int
    memory_mb: int
    disk_gb: int
    ssh_public_keys: tuple[str, ...]  # the owner's keys, validated by the API
    run_uid: int  # the unprivileged host uid QEMU runs as
    ssh_port: int  # host 127.0.0.1 port forwarded to the guest's 22
    image: str = "debian-12"

    def check(self) -> None:
        """Refuse what the driver cannot honour (the API validates first; this is the floor)."""
        problems = []
        if not HOSTNAME.match(self.hostname):
            problems.append("hostname must be a DNS label")
        if not 1 <= self.vcpus <= 64:
            problems.append("vcpus must be 1-64")
        if not 128 <= self.memory_mb <= 262_144:
            problems.append("memory_mb must be 128-262144")
        if not 2 <= self.disk_gb <= 4096:
            problems.append("disk_gb must be 2-4096")
        if not 1024 <= self.ssh_port <= 65535:
            problems.append("ssh_port must be 1024-65535")
        if self.run_uid < 1000:
            problems.append("run_uid must be an unprivileged uid")
        if self.image not in IMAGES:
            problems.append(f"image must be one of {', '.join(IMAGES)}")
        for key in self.ssh_public_keys:
            if "\n" in key or "\r" in key or len(key) > 16_384:
                problems.append("an SSH key must be one line")
        if problems:
            raise InvalidMachineRequest("; ".join(problems))


def check_snapshot_name(name: str) -> None:
    if not SNAPSHOT_NAME.match(name):
        raise InvalidMachineRequest(
            "a snapshot name is 1-64 letters, digits, '.', '_' or '-' (starting alphanumeric)"
        )


class MachineDriver(Protocol):
    kind: str  # "kvm" or "container"

    async def ensure_image(self, image: str, progress: Progress | None = None) -> None: ...
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
