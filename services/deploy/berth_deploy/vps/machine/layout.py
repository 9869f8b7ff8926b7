"""Where one machine's files live on a node.

<DEPLOY_DATA_DIR>/vps/<id>/           root's, 0711: the platform's records of the machine
    machine.json                       spec, base image, process, whether a stop was asked
    qemu.log, exit, pasta.*, etc/      the sandbox's own files (never the tenant's to edit)
    m/                                 the machine's uid, 0700: /app inside its sandbox
        disk.qcow2                     overlay on the base image (internal snapshots too)
        kvm                            its own /dev/kvm node (only this uid may open it)
        qmp.sock, qmp-state.sock       control: operations, and state queries
        console.sock, console.log      the serial console and everything it printed
        config/                        hostname, authorized_keys, config_id (fw_cfg)
"""

import json
import os
import uuid
from dataclasses import asdict
from pathlib import Path

from berth_deploy.vps.machine.spec import MachineNotFound, MachineSpec


class MachinePaths:
    def __init__(self, data_dir: Path, vps_id: uuid.UUID):
        self.vps_id = vps_id
        self.root = data_dir / "vps" / str(vps_id)

    @property
    def name(self) -> str:
        return f"vps-{self.vps_id}"

    @property
    def record(self) -> Path:
        return self.root / "machine.json"

    @property
    def m(self) -> Path:
        return self.root / "m"

    @property
    def disk(self) -> Path:
        return self.m / "disk.qcow2"

    @property
    def kvm(self) -> Path:
        return self.m / "kvm"

    @property
    def qmp(self) -> Path:
        return self.m / "qmp.sock"

    @property
    def qmp_state(self) -> Path:
        return self.m / "qmp-state.sock"

    @property
    def console_socket(self) -> Path:
        return self.m / "console.sock"

    @property
    def console_log(self) -> Path:
        return self.m / "console.log"

    @property
    def config(self) -> Path:
        return self.m / "config"

    @property
    def log(self) -> Path:
        return self.root / "qemu.log"

    @property
    def exit_file(self) -> Path:
        return self.root / "exit"

    @property
    def etc(self) -> Path:
        return self.root / "etc"

    def exists(self) -> bool:
        return self.record.exists()

    def load(self) -> dict:
        try:
            return json.loads(self.record.read_text())
        except FileNotFoundError:
            raise MachineNotFound(f"no machine {self.vps_id} on this node") from None

    def save(self, record: dict) -> None:
        tmp = self.record.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            json.dump(record, f)
        os.replace(tmp, self.record)

    def update(self, **changes: object) -> dict:
        record = self.load()
        record.update(changes)
        self.save(record)
        return record


def spec_json(spec: MachineSpec) -> dict:
    data = asdict(spec)
    data["vps_id"] = str(spec.vps_id)
    data["ssh_public_keys"] = list(spec.ssh_public_keys)
    return data


def spec_from(record: dict) -> MachineSpec:
    data = dict(record["spec"])
    data["vps_id"] = uuid.UUID(data["vps_id"])
    data["ssh_public_keys"] = tuple(data["ssh_public_keys"])
    return MachineSpec(**data)
