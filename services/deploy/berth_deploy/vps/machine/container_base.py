"""The system-container fallback (no usable /dev/kvm, or DEPLOY_VPS_HYPERVISOR=container).

The same Debian rootfs as the KVM image, booted by its own systemd in a container:
container_init.py (started by the sandbox launcher as root, inside the apps' network
namespace and the machine's cgroups) gives it a user namespace of its own (uids 0-65535
inside are a host range of its own, `map_base`; the container's root is unprivileged on the
host) and mount, pid, uts, ipc and cgroup namespaces. Its disk is an ext4 image of
`disk_gb`, loop-mounted by the driver: the filesystem's size is the disk quota.
Console: a pty as /dev/console, relayed to the same console socket and log as QEMU's.
Snapshots: the filesystem is frozen (FIFREEZE) while the image is copied.
"""

import asyncio
import contextlib
import os
import signal
import sys
import uuid
from pathlib import Path

from berth_deploy.sandbox.cgroups import Limits
from berth_deploy.vps.machine.driver_base import MachineDriverBase
from berth_deploy.vps.machine.image import BaseImage, run
from berth_deploy.vps.machine.kvm_base import alive
from berth_deploy.vps.machine.layout import MachinePaths, spec_json
from berth_deploy.vps.machine.spec import (
    InvalidMachineRequest,
    MachineSpec,
    MachineStateConflict,
    MachineUnavailable,
    Progress,
)

INIT = Path(__file__).with_name("container_init.py")
MAP_BASE = 1_000_000_000
MAP_SIZE = 65_536
GIB = 2**30


def allocated(path: Path) -> int:
    try:
        return path.stat().st_blocks * 512
    except FileNotFoundError:
        return 0


def mounted(path: Path) -> bool:
    return os.path.ismount(path)


def loop_devices(disk: Path) -> list[str]:
    """The loop devices backed by a disk image, mounted or still on their way out."""
    target = os.path.realpath(disk)
    found = []
    for backing in Path("/sys/block").glob("loop*/loop/backing_file"):
        with contextlib.suppress(OSError):
            if backing.read_text().strip() == target:
                found.append(f"/dev/{backing.parent.parent.name}")
    return found


def shift_owners(root: Path, base: int) -> None:
    """Move a fresh rootfs's owners (0-65535) into the container's host range, keeping
    set-id bits (chown clears them)."""
    for directory, dirs, files in os.walk(root):
        for name in [".", *dirs, *files]:
            path = os.path.join(directory, name) if name != "." else directory
            st = os.lstat(path)
            if st.st_uid >= MAP_SIZE or st.st_gid >= MAP_SIZE:
                continue
            os.lchown(path, st.st_uid + base, st.st_gid + base)
            if not os.path.islink(path) and st.st_mode & 0o6000:
                os.chmod(path, st.st_mode & 0o7777)


class ContainerBase(MachineDriverBase):
    kind = "container"

    def map_base(self, spec: MachineSpec) -> int:
        index = spec.run_uid - self.settings.uid_base
        if not 0 <= index < (2**32 - MAP_BASE) // MAP_SIZE - 1:
            raise InvalidMachineRequest("run_uid is outside this node's uid range")
        return MAP_BASE + index * MAP_SIZE

    @staticmethod
    def disk(paths: MachinePaths) -> Path:
        return paths.root / "disk.img"

    @staticmethod
    def rootfs(paths: MachinePaths) -> Path:
        return paths.root / "rootfs"

    def snapshot_file(self, paths: MachinePaths, name: str) -> Path:
        return paths.root / "snapshots" / f"{name}.img"

    # -- images and disks -----------------------------------------------------------
    async def ensure_image(self, image: str, progress: Progress | None = None) -> None:
        await self._raw_base(await self.images.ensure(image, progress))

    async def _raw_base(self, base: BaseImage) -> Path:
        """The base filesystem as a raw ext4 image (made once from the qcow2, kept)."""
        raw = base.dir / "base.raw"
        if not raw.exists():
            tmp = base.dir / ".base.raw.tmp"
            await run(
                [self.machine.qemu_img_path, "convert", "-O", "raw", str(base.disk), str(tmp)],
                "qemu-img convert",
            )
            tmp.rename(raw)
        return raw

    async def create(self, spec: MachineSpec) -> None:
        spec.check()
        self.map_base(spec)  # refuses a uid it cannot map before anything is made
        paths = self.paths(spec.vps_id)
        if paths.exists():
            raise MachineStateConflict(f"machine {spec.vps_id} already exists on this node")
        base = await self.images.ensure(spec.image)
        self.sandbox.prepare(paths, spec.run_uid, read_only=(), kvm=False)
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
        raw = await self._raw_base(base)
        disk = self.disk(paths)
        tmp = paths.root / "disk.img.new"
        await run(["cp", "--sparse=always", str(raw), str(tmp)], "copying the base image")
        os.truncate(tmp, spec.disk_gb * GIB)
        await run(["e2fsck", "-fy", str(tmp)], "e2fsck", ok=(0, 1))
        await run(["resize2fs", str(tmp)], "resize2fs")
        tmp.chmod(0o600)
        mnt = paths.root / "rootfs.new"
        mnt.mkdir(exist_ok=True)
        await run(["mount", "-o", "loop,nosuid,nodev", str(tmp), str(mnt)], "mount")
        try:
            await asyncio.to_thread(shift_owners, mnt, self.map_base(spec))
        finally:
            await run(["umount", str(mnt)], "umount")
            mnt.rmdir()
        await self._unmount(paths)
        tmp.rename(disk)
        paths.update(config_id=uuid.uuid4().hex, image_dir=str(base.dir))

    async def _mount(self, paths: MachinePaths) -> None:
        root = self.rootfs(paths)
        root.mkdir(exist_ok=True)
        if not mounted(root):
            await run(
                ["mount", "-o", "loop,nosuid,nodev", str(self.disk(paths)), str(root)], "mount"
            )

    async def _unmount(self, paths: MachinePaths) -> None:
        root = self.rootfs(paths)
        if mounted(root):
            await run(["umount", str(root)], "umount")
        # the kernel lets go of the loop device a moment after the last mount of it is gone
        # (later when a stopped container's mount namespace is still being torn down). Until
        # then `mount -o loop` would take that device again, with the disk's old size
        for _ in range(100):
            if not loop_devices(self.disk(paths)):
                return
            await asyncio.sleep(0.1)
        for device in loop_devices(self.disk(paths)):
            with contextlib.suppress(MachineUnavailable):
                await run(["losetup", "-d", device], "losetup")

    def _loop_device(self, paths: MachinePaths) -> str | None:
        root = str(self.rootfs(paths))
        with open("/proc/self/mounts") as f:
            for line in f:
                source, target = line.split()[:2]
                if target == root:
                    return source
        return None

    # -- the process ------------------------------------------------------------------
    def _systemd_cgroup(self, paths: MachinePaths, owner: int) -> Path:
        """A cgroup v2 directory delegated to the container's root: its /sys/fs/cgroup."""
        cgroups = self.sandbox.cgroups
        if cgroups.version == 2:
            directory = cgroups._dirs(paths.name)["all"]
        else:
            unified = self.settings.cgroup_root / "unified"
            if not (unified / "cgroup.procs").exists():
                raise MachineUnavailable("a system container needs a cgroup v2 hierarchy")
            directory = unified / self.settings.cgroup_parent / paths.name
        directory.mkdir(parents=True, exist_ok=True)
        for path in (
            directory,
            *(directory / n for n in ("cgroup.procs", "cgroup.subtree_control", "cgroup.threads")),
        ):
            if path.exists():
                os.chown(path, owner, owner)
        return directory

    def _remove_systemd_cgroup(self, paths: MachinePaths) -> None:
        if self.sandbox.cgroups.version == 2:
            return
        directory = self.settings.cgroup_root / "unified" / self.settings.cgroup_parent / paths.name
        for sub in (
            sorted(directory.rglob("*"), key=lambda p: len(p.parts), reverse=True)
            if directory.exists()
            else []
        ):
            if sub.is_dir():
                with contextlib.suppress(OSError):
                    sub.rmdir()
        with contextlib.suppress(OSError):
            directory.rmdir()

    def _write_config(self, paths: MachinePaths, spec: MachineSpec, config_id: str) -> None:
        files = {
            "hostname": spec.hostname + "\n",
            "authorized_keys": "".join(k.strip() + "\n" for k in spec.ssh_public_keys),
            "config_id": config_id + "\n",
        }
        for name, content in files.items():
            (paths.config / name).write_text(content)
            (paths.config / name).chmod(0o644)

    async def start(self, spec: MachineSpec) -> None:
        spec.check()
        async with self._lock(spec.vps_id):
            paths = self.paths(spec.vps_id)
            record = paths.load()
            if alive(record.get("process")):
                return
            await self._settle(paths)
            record["spec"] = spec_json(spec)
            base = self.map_base(spec)
            mounts = self.sandbox.prepare(paths, spec.run_uid, read_only=(), kvm=False)
            self._write_config(paths, spec, record["config_id"])
            await self._mount(paths)
            cgroup = self._systemd_cgroup(paths, base)
            config = {
                "rootfs": str(self.rootfs(paths)),
                "config": str(paths.config),
                "cgroup": str(cgroup),
                "hostname": spec.hostname,
                "map_base": base,
                "console_socket": str(paths.console_socket),
                "console_log": str(paths.console_log),
            }
            cfg_file = paths.root / "container.json"
            cfg_file.write_text(__import__("json").dumps(config))
            cfg_file.chmod(0o600)
            paths.console_socket.unlink(missing_ok=True)
            limits = Limits(spec.memory_mb, spec.vcpus * 1000, self.machine.pids_max * 4)
            handle = await self.sandbox.launch(
                paths, mounts, [sys.executable, "-I", "-S", str(INIT), str(cfg_file)],
                spec.run_uid, limits, spec.ssh_port, None,
                direct=True, guest_port=22, extra_procs=(str(cgroup / "cgroup.procs"),),
            )  # fmt: skip
            record.update(process=handle.__dict__, stop_requested=False)
            paths.save(record)
            for _ in range(100):  # the console socket says the init runs
                if paths.console_socket.exists() or not alive(handle.__dict__):
                    break
                await asyncio.sleep(0.05)
            if not alive(handle.__dict__):
                log = paths.log.read_text(errors="replace")[-400:] if paths.log.exists() else ""
                raise MachineUnavailable(f"the container did not start: {log.strip()}")

    def _init_pid(self, paths: MachinePaths) -> int | None:
        """The container's pid 1 (systemd), as the host sees it."""
        handle = paths.load().get("process")
        if not alive(handle):
            return None
        for pid in self.sandbox.cgroups.pids(paths.name):
            try:
                with open(f"/proc/{pid}/status") as f:
                    nspid = next((ln.split()[1:] for ln in f if ln.startswith("NSpid:")), [])
            except OSError:
                continue
            if len(nspid) >= 2 and nspid[-1] == "1":
                return pid
        return None

    async def _wait_exit(self, paths: MachinePaths, seconds: float) -> bool:
        handle = paths.load().get("process")
        for _ in range(int(seconds / 0.05)):
            if not alive(handle):
                return True
            await asyncio.sleep(0.05)
        return not alive(handle)

    async def _kill(self, paths: MachinePaths) -> None:
        handle = paths.load().get("process")
        for _ in range(3):
            for pid in self.sandbox.cgroups.pids(paths.name):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            if handle and alive(handle):
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(handle["pid"], signal.SIGKILL)
            if await self._wait_exit(paths, 5):
                break
        self.sandbox.cgroups.remove(paths.name)
        self.sandbox.remove_accounting(paths.name)
        self._remove_systemd_cgroup(paths)
        await self._settle(paths)

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
            if alive(record.get("process")):
                init = self._init_pid(paths)
                if not hard and init is not None:
                    os.kill(init, signal.SIGRTMIN + 4)  # systemd: power off
                    if not await self._wait_exit(paths, timeout):
                        await self._kill(paths)
                else:
                    await self._kill(paths)
                self.sandbox.cgroups.remove(paths.name)
                self.sandbox.remove_accounting(paths.name)
                self._remove_systemd_cgroup(paths)
                await self._settle(paths)
            await self._unmount(paths)

    async def reboot(self, vps_id: uuid.UUID, *, hard: bool) -> None:
        async with self._lock(vps_id):
            init = self._init_pid(self.paths(vps_id))
            if init is None:
                raise MachineStateConflict("the machine is not running")
            # SIGINT is Ctrl-Alt-Del for systemd (a clean reboot); SIGKILL is the reset
            # button: container_init boots again after either
            os.kill(init, signal.SIGKILL if hard else signal.SIGINT)

    async def state(self, vps_id: uuid.UUID) -> str:
        paths = self.paths(vps_id)
        record = paths.load()
        if not alive(record.get("process")):
            if record.get("stop_requested") or record.get("process") is None:
                return "stopped"
            try:
                code = __import__("json").loads(paths.exit_file.read_text()).get("exit_code")
            except (OSError, ValueError):
                code = None
            return "stopped" if code == 0 else "crashed"
        return "paused" if self._frozen(paths) else "running"

    def _frozen(self, paths: MachinePaths) -> bool:
        return (paths.root / "frozen").exists()
