"""The driver's small pieces on their own: the QMP client against a real QEMU (no guest),
the spec's floor checks, snapshot names that could reach a monitor command, KVM detection."""

import asyncio
import dataclasses
import shutil
import uuid

import pytest
from vps_machine_kit import new_spec

from berth_deploy.vps.machine import InvalidMachineRequest
from berth_deploy.vps.machine.kvm_base import hardware_virtualisation, kvm_works
from berth_deploy.vps.machine.qmp import Qmp, QmpError
from berth_deploy.vps.machine.spec import check_snapshot_name


@pytest.mark.skipif(not shutil.which("qemu-system-x86_64"), reason="QEMU is not installed")
async def test_the_qmp_client_talks_to_qemu(tmp_path):
    sock = tmp_path / "qmp.sock"
    qemu = await asyncio.create_subprocess_exec(
        "qemu-system-x86_64", "-machine", "none", "-nodefaults", "-display", "none",
        "-qmp", f"unix:{sock},server=on,wait=off",
    )  # fmt: skip
    try:
        for _ in range(600):  # QEMU starts slowly on a loaded machine
            if sock.exists():
                break
            await asyncio.sleep(0.05)
        async with await Qmp.connect(sock, seconds=30) as qmp:
            assert (await qmp.command("query-status"))["status"] == "running"
            assert (await qmp.hmp("info version"))[0].isdigit()  # HMP text comes back
            with pytest.raises(QmpError):
                await qmp.command("no-such-command")
            try:
                await qmp.command("quit")
            except QmpError as closed:  # QEMU may close its socket before the reply is read
                assert "closed its control socket" in str(closed)
        assert await asyncio.wait_for(qemu.wait(), 10) == 0
    finally:
        if qemu.returncode is None:
            qemu.kill()
            await qemu.wait()


@pytest.mark.parametrize(
    "change",
    [
        {"hostname": "Not_A_Label"},
        {"hostname": "-x"},
        {"vcpus": 0},
        {"memory_mb": 64},
        {"disk_gb": 1},
        {"ssh_port": 80},
        {"run_uid": 0},
        {"image": "ubuntu"},
        {"ssh_public_keys": ("ssh-ed25519 AAAA x\nssh-rsa BBBB y",)},
    ],
)
def test_a_spec_the_driver_cannot_honour_is_refused(change):
    spec = dataclasses.replace(new_spec("ssh-ed25519 AAAA test"), **change)
    with pytest.raises(InvalidMachineRequest):
        spec.check()


@pytest.mark.parametrize("name", ["", "a b", "x;quit", "-x", "a" * 65, "../x", "s\nquit"])
def test_snapshot_names_never_carry_monitor_syntax(name):
    with pytest.raises(InvalidMachineRequest):
        check_snapshot_name(name)


def test_a_good_spec_and_snapshot_name_pass():
    new_spec("ssh-ed25519 AAAA test", vps_id=uuid.uuid4()).check()
    check_snapshot_name("before-upgrade_2.1")


def test_kvm_needs_hardware_virtualisation():
    # kvm-pvm (this CI machine's nested KVM) creates VMs but boots no Debian kernel
    assert kvm_works() is False or hardware_virtualisation() is True
