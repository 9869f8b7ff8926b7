"""The KVM driver's QEMU path on a node without KVM: the same driver on QEMU's software
emulation (DEPLOY_VPS_ACCEL=tcg), so its disk overlay, kernel and initrd, fw_cfg keys, user
networking behind pasta, serial console, QMP, savevm snapshots and stop are proven where
/dev/kvm does not work (this kind of machine: nested, no VT-x/AMD-V). One boot: TCG is many
times slower than KVM (minutes to SSH on a loaded machine). Where KVM works, the full
lifecycle runs on it instead (test_machine_lifecycle.py[kvm]), and this is skipped."""

import shutil

import pytest
from cryptography.fernet import Fernet
from vps_machine_kit import (
    IMAGES_DIR,
    console_roundtrip,
    logged,
    make_key,
    new_spec,
    ssh,
    ssh_ok,
    wait_ssh,
)

from berth_deploy.config import DeploySettings
from berth_deploy.vps.machine import MachineSettings, machine_driver
from berth_deploy.vps.machine.driver_base import monitor_running
from berth_deploy.vps.machine.kvm_base import kvm_works

pytestmark = pytest.mark.timeout(2400)
BOOT_SECONDS = 1800


@pytest.fixture
def tcg_driver(base_image, tmp_path_factory):
    if kvm_works():
        pytest.skip("KVM works here: test_machine_lifecycle.py[kvm] proves the driver on it")
    if shutil.which("qemu-system-x86_64") is None:
        pytest.skip("no qemu-system-x86_64 (scripts/install-system-deps.sh --vps)")
    settings = DeploySettings(
        DEPLOY_DATA_DIR=str(tmp_path_factory.mktemp("vps-tcg")),
        DEPLOY_ENV_ENCRYPTION_KEY=Fernet.generate_key().decode(),
        cgroup_parent="berth-test-vps",
    )
    machine = MachineSettings(images_dir=IMAGES_DIR, hypervisor="kvm", accel="tcg")
    return machine_driver(settings, machine)


async def test_the_qemu_driver_boots_debian_on_software_emulation(tcg_driver, tmp_path):
    driver = tcg_driver
    assert driver.kind == "kvm"
    key, public = make_key(tmp_path)
    spec = new_spec(public)
    await driver.create(spec)
    try:
        await driver.start(spec)
        await wait_ssh(key, spec.ssh_port, BOOT_SECONDS)
        # the owner's key logs in as root; its own kernel, with the guest's RAM
        assert await ssh_ok(key, spec.ssh_port, "id -u; hostname") == f"0\n{spec.hostname}"
        assert await ssh_ok(key, spec.ssh_port, "systemd-detect-virt") == "qemu"
        meminfo = await ssh_ok(key, spec.ssh_port, "grep MemTotal /proc/meminfo")
        assert 300_000 < int(meminfo.split()[1]) <= spec.memory_mb * 1024
        seen = await console_roundtrip(
            driver.console_socket(spec.vps_id), b"echo TCG-$((6*7))", b"TCG-42", 120
        )
        assert b"TCG-42" in await logged(driver.console_log(spec.vps_id), b"TCG-42"), seen

        # a snapshot of the running machine (paused, savevm) brings the file back as it was
        await ssh_ok(key, spec.ssh_port, "echo before > /root/marker; sync")
        assert await driver.snapshot(spec.vps_id, "s1") > 0
        assert await driver.state(spec.vps_id) == "running"
        await ssh_ok(key, spec.ssh_port, "echo after > /root/marker; sync")
        await driver.restore(spec.vps_id, "s1")
        await wait_ssh(key, spec.ssh_port, 300)
        assert await ssh_ok(key, spec.ssh_port, "cat /root/marker") == "before"

        await driver.stop(spec.vps_id, hard=True)
        assert await driver.state(spec.vps_id) == "stopped"
        assert not monitor_running(driver.paths(spec.vps_id).load().get("process"))
        code, _ = await ssh(key, spec.ssh_port, "true", timeout=10)
        assert code == 255
    finally:
        await driver.destroy(spec.vps_id)
