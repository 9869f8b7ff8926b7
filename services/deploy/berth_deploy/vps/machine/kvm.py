"""The KVM machine driver, its disk half (the process half is kvm_base.py): snapshots,
resize, reinstall, destroy, usage.

Snapshots are qcow2 internal snapshots in the machine's overlay. Running: the guest is
paused (QMP stop), savevm writes disk and RAM, then cont; restoring one brings back the
running machine as it was. Stopped: `qemu-img snapshot` on the disk (consistent: nothing
runs). A snapshot's size is what it added to the overlay on the node's disk.
"""

import json
import os
import shutil
import uuid

from berth_deploy.vps.machine.kvm_base import KvmBase, alive
from berth_deploy.vps.machine.layout import spec_json
from berth_deploy.vps.machine.spec import (
    InvalidMachineRequest,
    MachineNotFound,
    MachineSpec,
    MachineUnavailable,
    check_snapshot_name,
)

GIB = 2**30


def allocated(path) -> int:
    try:
        return os.stat(path).st_blocks * 512
    except FileNotFoundError:
        return 0


class KvmDriver(KvmBase):
    async def _img(self, vps_id: uuid.UUID, *args: str) -> str:
        """qemu-img on the machine's disk, in its sandbox, as its uid."""
        paths = self.paths(vps_id)
        record = paths.load()
        uid = record["spec"]["run_uid"]
        mounts = self._mounts(paths, uid, self._base(record))
        argv = [self.machine.qemu_img_path, *args]
        return await self.sandbox.run(paths, mounts, argv, uid)

    async def _snapshots(self, vps_id: uuid.UUID) -> list[dict]:
        out = await self._img(vps_id, "info", "-U", "--output=json", "/app/disk.qcow2")
        return json.loads(out[out.index("{") :]).get("snapshots", [])

    async def snapshot(self, vps_id: uuid.UUID, name: str) -> int:
        check_snapshot_name(name)
        paths = self.paths(vps_id)
        async with self._lock(vps_id):
            if any(s["name"] == name for s in await self._snapshots(vps_id)):
                raise InvalidMachineRequest(f"a snapshot named {name} exists")
            before = allocated(paths.disk)
            if alive(paths.load().get("process")):
                async with await self._qmp(vps_id) as qmp:
                    await qmp.command("stop")
                    try:
                        error = await qmp.hmp(f"savevm {name}")
                    finally:
                        await qmp.command("cont")
                if error:
                    raise MachineUnavailable(f"savevm failed: {error}")
            else:
                await self._img(vps_id, "snapshot", "-c", name, "/app/disk.qcow2")
            return max(allocated(paths.disk) - before, 0)

    async def restore(self, vps_id: uuid.UUID, name: str) -> None:
        check_snapshot_name(name)
        paths = self.paths(vps_id)
        async with self._lock(vps_id):
            found = [s for s in await self._snapshots(vps_id) if s["name"] == name]
            if not found:
                raise MachineNotFound(f"no snapshot {name}")
            running = alive(paths.load().get("process"))
            if running and found[0].get("vm-state-size", 0) > 0:
                async with await self._qmp(vps_id) as qmp:
                    await qmp.command("stop")
                    error = await qmp.hmp(f"loadvm {name}")
                    await qmp.command("cont")
                if error:
                    raise MachineUnavailable(f"loadvm failed: {error}")
                return
        if running:  # a disk-only snapshot under a running machine: stop, rewind, boot
            spec = self.spec(vps_id)
            await self.stop(vps_id, hard=True)
            await self._img(vps_id, "snapshot", "-a", name, "/app/disk.qcow2")
            await self.start(spec)
        else:
            await self._img(vps_id, "snapshot", "-a", name, "/app/disk.qcow2")

    async def delete_snapshot(self, vps_id: uuid.UUID, name: str) -> None:
        check_snapshot_name(name)
        paths = self.paths(vps_id)
        async with self._lock(vps_id):
            if not any(s["name"] == name for s in await self._snapshots(vps_id)):
                raise MachineNotFound(f"no snapshot {name}")
            if alive(paths.load().get("process")):
                async with await self._qmp(vps_id) as qmp:
                    error = await qmp.hmp(f"delvm {name}")
                if error:
                    raise MachineUnavailable(f"delvm failed: {error}")
            else:
                await self._img(vps_id, "snapshot", "-d", name, "/app/disk.qcow2")

    async def list_snapshots(self, vps_id: uuid.UUID) -> list[dict]:
        """Name, RAM state size and date of each snapshot (for admins and reconciling)."""
        return [
            {
                "name": s["name"],
                "vm_state_bytes": s.get("vm-state-size", 0),
                "date": s.get("date-sec"),
            }
            for s in await self._snapshots(vps_id)
        ]

    async def resize(self, spec: MachineSpec) -> None:
        """vCPUs and memory take effect at the next boot; the disk grows now (never shrinks)
        and the guest's filesystem follows at its next boot."""
        spec.check()
        paths = self.paths(spec.vps_id)
        async with self._lock(spec.vps_id):
            record = paths.load()
            old = record["spec"]["disk_gb"]
            if spec.disk_gb < old:
                raise InvalidMachineRequest(f"the disk only grows (it has {old} GB)")
            if spec.disk_gb > old:
                if alive(record.get("process")):
                    async with await self._qmp(spec.vps_id) as qmp:
                        await qmp.command(
                            "block_resize", {"device": "root", "size": spec.disk_gb * GIB}
                        )
                else:
                    await self._img(
                        spec.vps_id, "resize", "-q", "/app/disk.qcow2", f"{spec.disk_gb}G"
                    )
            paths.update(spec=spec_json(spec))

    async def reinstall(self, spec: MachineSpec) -> None:
        spec.check()
        await self.stop(spec.vps_id, hard=True)
        paths = self.paths(spec.vps_id)
        async with self._lock(spec.vps_id):
            base = await self.images.ensure(spec.image)
            self._mounts(paths, spec.run_uid, base)
            paths.update(spec=spec_json(spec))
            await self._fresh_disk(paths, spec, base)

    async def destroy(self, vps_id: uuid.UUID) -> None:
        paths = self.paths(vps_id)
        if not paths.exists():
            return
        async with self._lock(vps_id):
            paths.update(stop_requested=True)
            await self._kill(paths)
            shutil.rmtree(paths.root, ignore_errors=True)
        self._locks.pop(vps_id, None)

    def usage(self, vps_id: uuid.UUID) -> dict:
        paths = self.paths(vps_id)
        paths.load()
        cpu, memory = self.sandbox.usage(paths.name)
        return {"cpu_seconds": cpu, "memory_bytes": memory, "disk_bytes": allocated(paths.disk)}

    def spec(self, vps_id: uuid.UUID) -> MachineSpec:
        from berth_deploy.vps.machine.layout import spec_from

        return spec_from(self.paths(vps_id).load())
