"""The VPS machine driver (issue 15, the hypervisor half): see spec.py for the interface.

machine_driver() gives the KVM driver where /dev/kvm works (or DEPLOY_VPS_HYPERVISOR=kvm),
else the system-container fallback (DEPLOY_VPS_HYPERVISOR=container forces it).

Beyond the contract: `machine_driver(settings, machine=MachineSettings(...))` takes the
driver's own settings (env prefix DEPLOY_VPS_), and the KVM driver has `list_snapshots()`.
"""

from berth_deploy.config import DeploySettings
from berth_deploy.vps.machine.config import MachineSettings
from berth_deploy.vps.machine.kvm import KvmDriver
from berth_deploy.vps.machine.kvm_base import kvm_works
from berth_deploy.vps.machine.spec import (
    InvalidMachineRequest,
    MachineDriver,
    MachineNotFound,
    MachineSpec,
    MachineStateConflict,
    MachineUnavailable,
)

__all__ = [
    "InvalidMachineRequest",
    "KvmDriver",
    "MachineDriver",
    "MachineNotFound",
    "MachineSettings",
    "MachineSpec",
    "MachineStateConflict",
    "MachineUnavailable",
    "machine_driver",
]


def machine_driver(
    settings: DeploySettings, machine: MachineSettings | None = None
) -> MachineDriver:
    machine = machine or MachineSettings()
    if machine.hypervisor == "kvm" or (machine.hypervisor == "auto" and kvm_works()):
        return KvmDriver(settings, machine)
    from berth_deploy.vps.machine.container import ContainerDriver

    return ContainerDriver(settings, machine)
