"""The KVM machine driver: QEMU (q35, KVM) with Debian's kernel and a qcow2 overlay per VPS.

Control is QMP on two sockets (operations, and state queries that must not wait behind a
long savevm); the serial console is a chardev socket with a logfile. Soft stop is ACPI
power-down, soft reboot is Ctrl-Alt-Del (systemd reboots cleanly), hard ones are QMP
quit/system_reset. Snapshots are qcow2 internal snapshots: with the machine running, QMP
stop -> savevm (disk and RAM) -> cont; with it stopped, `qemu-img snapshot` on the disk.
"""

import asyncio
import fcntl
import os
import shutil
import signal
import uuid
from pathlib import Path

from berth_deploy.sandbox.cgroups import Limits
from berth_deploy.sandbox.driver import ProcessHandle
from berth_deploy.sandbox.local import read_stat
from berth_deploy.vps.machine.driver_base import MachineDriverBase
from berth_deploy.vps.machine.image import BaseImage
from berth_deploy.vps.machine.layout import MachinePaths, spec_json
from berth_deploy.vps.machine.qmp import Qmp, QmpError
from berth_deploy.vps.machine.spec import (
    MachineSpec,
    MachineStateConflict,
    MachineUnavailable,
    Progress,
)

KVM_GET_API_VERSION = 0xAE00
KVM_CREATE_VM = 0xAE01
GIB = 2**30
PAUSED = {
    "paused",
    "suspended",
    "prelaunch",
    "inmigrate",
    "postmigrate",
    "save-vm",
    "restore-vm",
    "debug",
    "finish-migrate",
}
CRASHED = {"internal-error", "io-error", "guest-panicked", "watchdog"}
KERNEL_CMDLINE = "root=/dev/vda rw console=ttyS0 quiet net.ifnames=0 systemd.show_status=false"
DISK_OPTIONS = "cache=writeback,discard=unmap"
CTRL_ALT_DEL = [{"type": "qcode", "data": k} for k in ("ctrl", "alt", "delete")]


def hardware_virtualisation() -> bool:
    """The CPU has VT-x or AMD-V. A /dev/kvm without it is not a KVM that boots Debian's
    kernel: e.g. kvm-pvm (nested PVM on a cloud VM) creates VMs but runs only PVM-enabled
    guest kernels (SeaBIOS loops, the kernel's decompressor never prints)."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("flags"):
                    return bool({"vmx", "svm"} & set(line.split()))
    except OSError:
        return False
    return False


def kvm_works(device: str = "/dev/kvm") -> bool:
    """/dev/kvm opens, speaks API 12 and creates a VM, on a CPU with VT-x/AMD-V."""
    if not hardware_virtualisation():
        return False
    try:
        fd = os.open(device, os.O_RDWR | os.O_CLOEXEC)
    except OSError:
        return False
    try:
        if fcntl.ioctl(fd, KVM_GET_API_VERSION) != 12:
            return False
        vm = fcntl.ioctl(fd, KVM_CREATE_VM, 0)
        os.close(vm)
        return True
    except OSError:
        return False
    finally:
        os.close(fd)


def alive(handle: dict | None) -> bool:
    if not handle:
        return False
    stat = read_stat(handle["pid"])
    return stat is not None and stat[1] not in ("Z", "X") and stat[3] == handle["start_time"]


class KvmBase(MachineDriverBase):
    kind = "kvm"

    def _base(self, record: dict) -> BaseImage:
        base = BaseImage(Path(record["image_dir"]))
        if not base.complete():
            raise MachineUnavailable(
                f"the machine's base image {base.dir.name} is gone from this node"
            )
        return base

    def _mounts(self, paths: MachinePaths, uid: int, base: BaseImage):
        return self.sandbox.prepare(
            paths, uid, read_only=(base.dir,), kvm=self.machine.accel == "kvm"
        )

    # -- images and disks -------------------------------------------------------------
    async def ensure_image(self, image: str, progress: Progress | None = None) -> None:
        await self.images.ensure(image, progress)

    async def create(self, spec: MachineSpec) -> None:
        spec.check()
        paths = self.paths(spec.vps_id)
        if paths.exists():
            raise MachineStateConflict(f"machine {spec.vps_id} already exists on this node")
        base = await self.images.ensure(spec.image)
        self._mounts(paths, spec.run_uid, base)
        paths.save(
            {
                "spec": spec_json(spec),
                "image_dir": str(base.dir),
                "process": None,
                "stop_requested": True,
            }
        )
        await self._fresh_disk(paths, spec, base)

    async def _fresh_disk(self, paths: MachinePaths, spec: MachineSpec, base: BaseImage) -> None:
        """A new overlay on the base (trusted files only: made as root, then given to the uid)."""
        paths.disk.unlink(missing_ok=True)
        tmp = paths.m / "disk.qcow2.new"
        argv = [self.machine.qemu_img_path, "create", "-q", "-f", "qcow2", "-F", "qcow2"]
        argv += ["-b", str(base.disk), str(tmp), f"{spec.disk_gb}G"]
        proc = await asyncio.create_subprocess_exec(*argv, stderr=asyncio.subprocess.PIPE)
        _, err = await proc.communicate()
        if proc.returncode != 0:
            raise MachineUnavailable(f"qemu-img create failed: {err.decode()[-300:]}")
        os.chown(tmp, spec.run_uid, spec.run_uid)
        tmp.chmod(0o600)
        tmp.rename(paths.disk)
        paths.update(config_id=uuid.uuid4().hex, image_dir=str(base.dir))

    def _write_config(self, paths: MachinePaths, spec: MachineSpec, config_id: str) -> None:
        files = {
            "hostname": spec.hostname + "\n",
            "authorized_keys": "".join(k.strip() + "\n" for k in spec.ssh_public_keys),
            "config_id": config_id + "\n",
        }
        for name, content in files.items():
            (paths.config / name).write_text(content)
            (paths.config / name).chmod(0o644)

    # -- the process -----------------------------------------------------------------
    def qemu_argv(self, spec: MachineSpec, base: BaseImage, paths: MachinePaths) -> list[str]:
        app, server = "/app", "server=on,wait=off"
        argv = [
            shutil.which(self.machine.qemu_path) or self.machine.qemu_path,
            "-name", f"vps-{spec.vps_id},debug-threads=on",
            # TCG's translation cache defaults to 1 GiB: held to 128 MiB, in the cgroup's
            # overhead allowance (the first TCG run here was OOM-killed)
            "-machine", "q35",
            "-accel", "kvm" if self.machine.accel == "kvm" else "tcg,tb-size=128",
            # nested KVM refuses the guest's IA32_ARCH_CAPABILITIES MSR and QEMU aborts at the
            # first vCPU run; the guest does without it. TCG emulates the newest CPU it can
            "-cpu", "host,-arch-capabilities" if self.machine.accel == "kvm" else "max",
            "-smp", str(spec.vcpus),
            "-m", str(spec.memory_mb),
            "-nodefaults", "-no-user-config", "-display", "none", "-vga", "none",
            "-kernel", str(base.kernel),
            "-initrd", str(base.initrd),
            "-append", KERNEL_CMDLINE,
            "-drive", f"file={app}/disk.qcow2,if=none,id=root,format=qcow2,{DISK_OPTIONS}",
            "-device", "virtio-blk-pci,drive=root",
            # every address of the machine's own namespace: pasta brings a connection from
            # another host in through the namespace's interface, not its loopback
            "-netdev", f"user,id=net0,ipv6=off,hostfwd=tcp::{spec.ssh_port}-:22",
            "-device", "virtio-net-pci,netdev=net0",
            "-device", "virtio-rng-pci",
            "-chardev", f"socket,id=console,path={app}/console.sock,{server},"
            f"logfile={app}/console.log,logappend=on",
            "-serial", "chardev:console",
            "-qmp", f"unix:{app}/qmp.sock,{server}",
            "-qmp", f"unix:{app}/qmp-state.sock,{server}",
            "-sandbox", "on,obsolete=deny,elevateprivileges=deny,spawn=deny,resourcecontrol=deny",
        ]  # fmt: skip
        for name in ("hostname", "authorized_keys", "config_id"):
            argv += ["-fw_cfg", f"name=opt/berth/{name},file={app}/config/{name}"]
        return argv

    def _limits(self, spec: MachineSpec) -> Limits:
        return Limits(
            spec.memory_mb + self.machine.memory_overhead_mb,
            spec.vcpus * 1000,
            self.machine.pids_max,
        )

    async def start(self, spec: MachineSpec) -> None:
        spec.check()
        async with self._lock(spec.vps_id):
            paths = self.paths(spec.vps_id)
            record = paths.load()
            if alive(record.get("process")):
                return
            await self._settle(paths)
            record["spec"] = spec_json(spec)
            base = self._base(record)
            mounts = self._mounts(paths, spec.run_uid, base)
            self._write_config(paths, spec, record["config_id"])
            for sock in (paths.qmp, paths.qmp_state, paths.console_socket):
                sock.unlink(missing_ok=True)
            file_size = (spec.disk_gb * 2 + spec.memory_mb * 16 // 1024 + 4) * GIB
            handle = await self.sandbox.launch(
                paths, mounts, self.qemu_argv(spec, base, paths), spec.run_uid,
                self._limits(spec), spec.ssh_port, file_size,
            )  # fmt: skip
            record.update(process=handle.__dict__, stop_requested=False)
            paths.save(record)
            await self._wait_control(paths, handle)

    async def _wait_control(self, paths: MachinePaths, handle: ProcessHandle) -> None:
        """Return once QEMU answers on its control socket; its own words if it died."""
        for _ in range(200):
            if not alive(handle.__dict__):
                break
            try:
                qmp = await Qmp.connect(paths.qmp_state, seconds=2)
                await qmp.close()
                return
            except QmpError:
                await asyncio.sleep(0.05)
        log = paths.log.read_text(errors="replace")[-400:] if paths.log.exists() else ""
        await self._kill(paths)
        raise MachineUnavailable(f"QEMU did not start: {log.strip()}")

    async def _qmp(self, vps_id: uuid.UUID) -> Qmp:
        paths = self.paths(vps_id)
        if not alive(paths.load().get("process")):
            raise MachineStateConflict("the machine is not running")
        try:
            return await Qmp.connect(paths.qmp)
        except QmpError as exc:
            raise MachineUnavailable(
                f"the machine's control socket does not answer: {exc}"
            ) from exc

    async def _kill(self, paths: MachinePaths) -> None:
        for pid in self.sandbox.cgroups.pids(paths.name):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        record = paths.load()
        handle = record.get("process")
        if handle and alive(handle):
            try:
                os.killpg(handle["pid"], signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        await self._wait_exit(paths, 10)
        self.sandbox.cgroups.remove(paths.name)
        self.sandbox.remove_accounting(paths.name)
        await self._settle(paths)

    async def _wait_exit(self, paths: MachinePaths, seconds: float) -> bool:
        handle = paths.load().get("process")
        for _ in range(int(seconds / 0.05)):
            if not alive(handle):
                return True
            await asyncio.sleep(0.05)
        return not alive(handle)

    async def stop(
        self,
        vps_id: uuid.UUID,
        *,
        hard: bool,
        timeout: float = 60,  # noqa: ASYNC109 - the contract's signature
    ) -> None:
        async with self._lock(vps_id):
            paths = self.paths(vps_id)
            record = paths.update(stop_requested=True)
            if not alive(record.get("process")):
                return
            if not hard:
                try:
                    async with await Qmp.connect(paths.qmp) as qmp:
                        await qmp.command("system_powerdown")
                except QmpError:
                    pass
                if await self._wait_exit(paths, timeout):
                    self.sandbox.cgroups.remove(paths.name)
                    self.sandbox.remove_accounting(paths.name)
                    await self._settle(paths)
                    return
            await self._kill(paths)

    async def reboot(self, vps_id: uuid.UUID, *, hard: bool) -> None:
        async with self._lock(vps_id), await self._qmp(vps_id) as qmp:
            if hard:
                await qmp.command("system_reset")
            else:
                await qmp.command("send-key", {"keys": CTRL_ALT_DEL})
            status = await qmp.command("query-status")
            if status["status"] in PAUSED and status["status"] not in ("save-vm", "restore-vm"):
                await qmp.command("cont")

    async def state(self, vps_id: uuid.UUID) -> str:
        paths = self.paths(vps_id)
        record = paths.load()
        if not alive(record.get("process")):
            if record.get("stop_requested") or record.get("process") is None:
                return "stopped"
            status = self._exit_status(paths)
            return "stopped" if status == 0 else "crashed"
        try:
            async with await Qmp.connect(paths.qmp_state, seconds=3) as qmp:
                status = (await qmp.command("query-status", seconds=3))["status"]
        except (QmpError, TimeoutError):
            return "paused"  # alive but not answering: a snapshot holds the machine
        if status in CRASHED:
            return "crashed"
        if status == "shutdown":
            return "stopped"
        return "paused" if status in PAUSED else "running"

    def _exit_status(self, paths: MachinePaths) -> int | None:
        import json

        try:
            return json.loads(paths.exit_file.read_text()).get("exit_code")
        except (OSError, ValueError):
            return None
