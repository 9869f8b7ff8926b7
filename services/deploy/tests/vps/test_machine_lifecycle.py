"""The machine driver on real machines: create a VPS, SSH in with the owner's key, use the
serial console, reboot soft and hard, snapshot and restore, grow the disk, destroy."""

import dataclasses
import socket

import pytest
from vps_machine_kit import (
    boot_id,
    console_roundtrip,
    logged,
    make_key,
    new_spec,
    ssh,
    ssh_ok,
    wait_new_boot,
    wait_ssh,
)

from berth_deploy.vps.machine import InvalidMachineRequest, MachineNotFound
from berth_deploy.vps.machine.driver_base import monitor_running

pytestmark = pytest.mark.timeout(1800)


def port_open(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(1)
        return s.connect_ex(("127.0.0.1", port)) == 0


def run_finished(driver, vps_id) -> bool:
    """Nothing of the machine's last run is left once stop returns: its launcher monitor has
    stopped its network forwarder (pasta, the SSH port) and removed its cgroups (were it
    still at work, it would remove the next run's cgroups: the container did not start)."""
    handle = driver.paths(vps_id).load().get("process")
    return not monitor_running(handle)


async def test_a_vps_lives_its_whole_life(driver, tmp_path):
    key, public = make_key(tmp_path)
    (tmp_path / "other").mkdir()
    other_key, _ = make_key(tmp_path / "other")
    spec = new_spec(public)
    await driver.create(spec)
    assert await driver.state(spec.vps_id) == "stopped"
    await driver.start(spec)
    try:
        assert await driver.state(spec.vps_id) in ("running", "paused")
        await wait_ssh(key, spec.ssh_port)
        assert await driver.state(spec.vps_id) == "running"

        # the owner's key logs in as root; the hostname is the VPS's; another key is refused
        assert await ssh_ok(key, spec.ssh_port, "id -u; hostname") == f"0\n{spec.hostname}"
        code, _ = await ssh(other_key, spec.ssh_port, "true")
        assert code == 255
        assert "bookworm" in await ssh_ok(key, spec.ssh_port, "cat /etc/os-release")
        if driver.kind == "kvm":  # its own kernel, with the guest's RAM (not the host's)
            meminfo = await ssh_ok(key, spec.ssh_port, "grep MemTotal /proc/meminfo")
            assert 300_000 < int(meminfo.split()[1]) <= spec.memory_mb * 1024
        else:  # the host's kernel; its memory is the cgroup's limit
            cgroups = driver.sandbox.cgroups
            group = cgroups._dirs(driver.paths(spec.vps_id).name)
            limit = (
                group["all"] / "memory.max"
                if cgroups.version == 2
                else group["memory"] / "memory.limit_in_bytes"
            )
            assert int(limit.read_text()) == spec.memory_mb * 2**20

        # the root console (serial, autologin) answers on the console socket, and is logged
        seen = await console_roundtrip(
            driver.console_socket(spec.vps_id), b"echo CONSOLE-$((6*7))", b"CONSOLE-42"
        )
        assert b"CONSOLE-42" in seen
        assert b"CONSOLE-42" in await logged(driver.console_log(spec.vps_id), b"CONSOLE-42")

        # soft reboot (Ctrl-Alt-Del: systemd reboots) and hard reset both bring a new boot
        first = await boot_id(key, spec.ssh_port)
        await driver.reboot(spec.vps_id, hard=False)
        second = await wait_new_boot(key, spec.ssh_port, first)
        await driver.reboot(spec.vps_id, hard=True)
        await wait_new_boot(key, spec.ssh_port, second)

        # a snapshot of the running machine brings back the file as it was
        await ssh_ok(key, spec.ssh_port, "echo before > /root/marker; sync")
        size = await driver.snapshot(spec.vps_id, "s1")
        assert size > 0
        assert await driver.state(spec.vps_id) == "running"
        await ssh_ok(key, spec.ssh_port, "echo after > /root/marker; sync")
        await driver.restore(spec.vps_id, "s1")
        await wait_ssh(key, spec.ssh_port, 60)
        assert await ssh_ok(key, spec.ssh_port, "cat /root/marker") == "before"
        with pytest.raises(InvalidMachineRequest):
            await driver.snapshot(spec.vps_id, "s1")
        with pytest.raises(InvalidMachineRequest):
            await driver.snapshot(spec.vps_id, "bad name; quit")
        with pytest.raises(MachineNotFound):
            await driver.restore(spec.vps_id, "nope")
        await driver.delete_snapshot(spec.vps_id, "s1")
        with pytest.raises(MachineNotFound):
            await driver.restore(spec.vps_id, "s1")

        # the disk grows (never shrinks); the guest's filesystem follows at the next boot
        before = int(await ssh_ok(key, spec.ssh_port, "df -B1 --output=size / | tail -1"))
        await driver.stop(spec.vps_id, hard=False, timeout=60)
        assert await driver.state(spec.vps_id) == "stopped"
        assert run_finished(driver, spec.vps_id)
        assert not port_open(spec.ssh_port)
        bigger = dataclasses.replace(spec, disk_gb=spec.disk_gb + 2)
        with pytest.raises(InvalidMachineRequest):
            await driver.resize(dataclasses.replace(spec, disk_gb=2))
        await driver.resize(bigger)
        await driver.start(bigger)
        await wait_ssh(key, spec.ssh_port)
        after = int(await ssh_ok(key, spec.ssh_port, "df -B1 --output=size / | tail -1"))
        assert after - before > 1.5 * 2**30, (before, after)
        usage = driver.usage(spec.vps_id)
        assert usage["memory_bytes"] > 0 and usage["disk_bytes"] > 0 and usage["cpu_seconds"] > 0

        # a snapshot of the stopped machine, then a reinstall: a fresh disk, same key
        await driver.stop(spec.vps_id, hard=True)
        assert await driver.snapshot(spec.vps_id, "cold") >= 0
        await driver.reinstall(bigger)
        await driver.start(bigger)
        await wait_ssh(key, spec.ssh_port)
        code, _ = await ssh(key, spec.ssh_port, "test -e /root/marker")
        assert code == 1
    finally:
        await driver.destroy(spec.vps_id)
    assert not driver.paths(spec.vps_id).root.exists()
    assert not port_open(spec.ssh_port)
    with pytest.raises(MachineNotFound):
        await driver.state(spec.vps_id)
