"""Fixtures of the VPS tests: for the machine-driver tests, the cached base image and a
driver of each kind; for the API's unit tests, the TEST DOUBLE of the driver (fake_machine.py)
wired into the API app and a node that runs VPS operations with it."""

import os
from collections.abc import AsyncIterator

import pytest
from cryptography.fernet import Fernet
from fake_machine import FakeMachine
from vps_kit import VpsRunner
from vps_machine_kit import IMAGES_DIR

from berth_deploy.config import DeploySettings
from berth_deploy.vps.machine import MachineSettings, machine_driver
from berth_deploy.vps.machine.kvm_base import kvm_works

KINDS = ["kvm", "container"]


@pytest.fixture(scope="session")
def machine_settings() -> MachineSettings:
    return MachineSettings(images_dir=IMAGES_DIR)


@pytest.fixture(scope="session")
async def base_image(machine_settings: MachineSettings) -> None:
    """Built once per machine (var/vps-images), then found."""
    if os.geteuid() != 0:
        pytest.skip("the VPS driver runs as root (debootstrap, the sandbox launcher)")
    from berth_deploy.vps.machine.image import ImageStore

    await ImageStore(IMAGES_DIR, machine_settings).ensure("debian-12", print)


@pytest.fixture(scope="module", params=KINDS)
async def driver(request, base_image, machine_settings, tmp_path_factory) -> AsyncIterator:
    kind = request.param
    if kind == "kvm" and not kvm_works():
        pytest.skip("no KVM that boots Debian here (no VT-x/AMD-V, or no /dev/kvm)")
    data = tmp_path_factory.mktemp(f"vps-{kind}")
    settings = DeploySettings(
        DEPLOY_DATA_DIR=str(data),
        DEPLOY_ENV_ENCRYPTION_KEY=Fernet.generate_key().decode(),
        cgroup_parent="berth-test-vps",
    )
    chosen = MachineSettings(images_dir=IMAGES_DIR, hypervisor=kind)
    yield machine_driver(settings, chosen)


@pytest.fixture
def machine(deploy_app) -> FakeMachine:
    fake = FakeMachine()
    deploy_app.state.vps_driver = fake
    return fake


@pytest.fixture
def vps_runner(deploy_settings, deploy_node, machine) -> VpsRunner:
    return VpsRunner(deploy_settings, deploy_node.ctx.tx, machine)
