"""The system-container fallback, its disk half (the process half is container_base.py):
snapshots (the filesystem frozen with FIFREEZE while its image is copied), resize (the
image and its ext4 grow, online), reinstall, destroy, usage."""

import asyncio
import contextlib
import fcntl
import os
import shutil
import uuid

from berth_deploy.vps.machine.container_base import GIB, ContainerBase, allocated, mounted
from berth_deploy.vps.machine.image import run
from berth_deploy.vps.machine.kvm_base import alive
from berth_deploy.vps.machine.layout import spec_from, spec_json
from berth_deploy.vps.machine.spec import (
    InvalidMachineRequest,
    MachineNotFound,
    MachineSpec,
    check_snapshot_name,
)

FIFREEZE = 0xC0045877
FITHAW = 0xC0045878


class ContainerDriver(ContainerBase):
    async def _copy(self, source, target) -> None:
        tmp = target.with_name(target.name + ".tmp")
        await run(["cp", "--sparse=always", str(source), str(tmp)], "copying the disk image")
        tmp.chmod(0o600)
        tmp.rename(target)

    async def snapshot(self, vps_id: uuid.UUID, name: str) -> int:
        check_snapshot_name(name)
        paths = self.paths(vps_id)
        async with self._lock(vps_id):
            target = self.snapshot_file(paths, name)
            if target.exists():
                raise InvalidMachineRequest(f"a snapshot named {name} exists")
            target.parent.mkdir(mode=0o700, exist_ok=True)
            root = self.rootfs(paths)
            if alive(paths.load().get("process")) and mounted(root):
                fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY)
                marker = paths.root / "frozen"
                marker.touch()
                try:
                    await asyncio.to_thread(fcntl.ioctl, fd, FIFREEZE, 0)
                    try:
                        await self._copy(self.disk(paths), target)
                    finally:
                        await asyncio.to_thread(fcntl.ioctl, fd, FITHAW, 0)
                finally:
                    os.close(fd)
                    marker.unlink(missing_ok=True)
            else:
                await self._copy(self.disk(paths), target)
            return allocated(target)

    async def restore(self, vps_id: uuid.UUID, name: str) -> None:
        check_snapshot_name(name)
        paths = self.paths(vps_id)
        source = self.snapshot_file(paths, name)
        if not source.exists():
            raise MachineNotFound(f"no snapshot {name}")
        running = alive(paths.load().get("process"))
        spec = spec_from(paths.load())
        await self.stop(vps_id, hard=True)
        async with self._lock(vps_id):
            await self._copy(source, self.disk(paths))
            size = self.disk(paths).stat().st_size
            if size < spec.disk_gb * GIB:  # the disk grew since: keep its size
                os.truncate(self.disk(paths), spec.disk_gb * GIB)
                await run(["e2fsck", "-fy", str(self.disk(paths))], "e2fsck", ok=(0, 1))
                await run(["resize2fs", str(self.disk(paths))], "resize2fs")
        if running:
            await self.start(spec)

    async def delete_snapshot(self, vps_id: uuid.UUID, name: str) -> None:
        check_snapshot_name(name)
        paths = self.paths(vps_id)
        target = self.snapshot_file(paths, name)
        if not target.exists():
            raise MachineNotFound(f"no snapshot {name}")
        target.unlink()

    async def list_snapshots(self, vps_id: uuid.UUID) -> list[dict]:
        directory = self.paths(vps_id).root / "snapshots"
        return [
            {"name": p.stem, "vm_state_bytes": 0, "date": int(p.stat().st_mtime)}
            for p in sorted(directory.glob("*.img"))
        ]

    async def resize(self, spec: MachineSpec) -> None:
        """Memory and CPU apply at the next start; the disk and its filesystem grow now."""
        spec.check()
        paths = self.paths(spec.vps_id)
        async with self._lock(spec.vps_id):
            old = paths.load()["spec"]["disk_gb"]
            if spec.disk_gb < old:
                raise InvalidMachineRequest(f"the disk only grows (it has {old} GB)")
            if spec.disk_gb > old:
                os.truncate(self.disk(paths), spec.disk_gb * GIB)
                loop = self._loop_device(paths)
                if loop:
                    await run(["losetup", "-c", loop], "losetup")
                    await run(["resize2fs", loop], "resize2fs")
                else:
                    await run(["e2fsck", "-fy", str(self.disk(paths))], "e2fsck", ok=(0, 1))
                    await run(["resize2fs", str(self.disk(paths))], "resize2fs")
            paths.update(spec=spec_json(spec))

    async def reinstall(self, spec: MachineSpec) -> None:
        spec.check()
        await self.stop(spec.vps_id, hard=True)
        paths = self.paths(spec.vps_id)
        async with self._lock(spec.vps_id):
            base = await self.images.ensure(spec.image)
            paths.update(spec=spec_json(spec))
            await self._fresh_disk(paths, spec, base)

    async def destroy(self, vps_id: uuid.UUID) -> None:
        paths = self.paths(vps_id)
        if not paths.exists():
            return
        await self.stop(vps_id, hard=True)
        async with self._lock(vps_id):
            await self._unmount(paths)
            with contextlib.suppress(FileNotFoundError):
                os.rmdir(self.rootfs(paths))
            shutil.rmtree(paths.root, ignore_errors=True)
        self._locks.pop(vps_id, None)

    def usage(self, vps_id: uuid.UUID) -> dict:
        paths = self.paths(vps_id)
        paths.load()
        cgroups = self.sandbox.cgroups
        cpu = memory = 0
        with contextlib.suppress(OSError, ValueError, KeyError):
            group = cgroups._dirs(paths.name)
            if cgroups.version == 2:
                for line in (group["all"] / "cpu.stat").read_text().splitlines():
                    if line.startswith("usage_usec "):
                        cpu = int(line.split()[1]) * 1000
                memory = int((group["all"] / "memory.current").read_text())
            else:
                memory = int((group["memory"] / "memory.usage_in_bytes").read_text())
                acct = (
                    self.settings.cgroup_root / "cpuacct" / self.settings.cgroup_parent / paths.name
                )
                if (acct / "cpuacct.usage").exists():
                    cpu = int((acct / "cpuacct.usage").read_text())
        return {
            "cpu_seconds": cpu / 1e9,
            "memory_bytes": memory,
            "disk_bytes": allocated(self.disk(paths)),
        }
