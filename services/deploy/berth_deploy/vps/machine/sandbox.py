"""QEMU in the apps' sandbox: the launcher's network namespace served by pasta (with its
`prohibit` routes), bubblewrap as the machine's uid, a cgroup for memory, CPU and pids.

The guest's network is QEMU's user-mode stack inside that namespace, so every guest
connection becomes a socket of the namespace and meets the apps' policy: the namespace's
loopback is its own (10.0.2.2 in the guest reaches nothing of the host), private,
link-local and this host's networks are `prohibit` routes. pasta publishes the host's
127.0.0.1:<ssh_port> into the namespace, where QEMU's hostfwd takes it to the guest's :22.

/dev/kvm: the host node stays root's 0600. Each machine gets a device node of its own
(mknod c 10 232) inside its 0700 directory, owned by its uid, and bubblewrap binds that at
/dev/kvm: only that uid, only inside that sandbox, can open KVM; no group or ACL on the
host's node is widened. qemu-img on a tenant's disk (resize, offline snapshots) runs in the
same sandbox without a network: its qcow2 headers were written by a tenant-reachable QEMU.
"""

import asyncio
import contextlib
import json
import os
import shlex
import stat
from pathlib import Path

from loguru import logger

from berth_deploy.config import DeploySettings
from berth_deploy.sandbox.bubblewrap import (
    SandboxMounts,
    bwrap_argv,
    find_bwrap,
    identity_files,
    staged_paths,
)
from berth_deploy.sandbox.cgroups import Cgroups, Limits
from berth_deploy.sandbox.driver import ProcessHandle
from berth_deploy.sandbox.local import _start_launcher
from berth_deploy.sandbox.network import Network, inbound_spec, resolv_conf
from berth_deploy.vps.machine.config import MachineSettings
from berth_deploy.vps.machine.layout import MachinePaths
from berth_deploy.vps.machine.spec import MachineUnavailable

KVM_MAJOR, KVM_MINOR = 10, 232


class MachineSandbox:
    def __init__(self, settings: DeploySettings, machine: MachineSettings):
        self.settings = settings
        self.machine = machine
        self.cgroups = Cgroups(settings.cgroup_root, settings.cgroup_parent)
        self.network = None
        if not settings.insecure_shared_network:
            self.network = Network(
                settings.pasta_path,
                settings.ip_path,
                settings.blocked_networks,
                bind=str(settings.vps_ssh_bind_address),
            )

    def _cpuacct(self, name: str) -> Path | None:
        """cgroup v1's CPU accounting group of a machine (v2 has cpu.stat in its group)."""
        if self.cgroups.version != 1:
            return None
        root = self.settings.cgroup_root / "cpuacct"
        return root / self.settings.cgroup_parent / name if root.is_dir() else None

    def accounting_procs(self, name: str) -> list[str]:
        directory = self._cpuacct(name)
        if directory is None:
            return []
        directory.mkdir(parents=True, exist_ok=True)
        return [str(directory / "cgroup.procs")]

    def remove_accounting(self, name: str) -> None:
        directory = self._cpuacct(name)
        if directory is not None:
            with contextlib.suppress(OSError):
                directory.rmdir()

    def usage(self, name: str) -> tuple[float, int]:
        """(CPU seconds, memory bytes) of a machine's cgroups; zeros where unreadable."""
        cpu, memory = 0.0, 0
        with contextlib.suppress(OSError, ValueError, KeyError):
            group = self.cgroups._dirs(name)
            if self.cgroups.version == 2:
                for line in (group["all"] / "cpu.stat").read_text().splitlines():
                    if line.startswith("usage_usec "):
                        cpu = int(line.split()[1]) / 1e6
                memory = int((group["all"] / "memory.current").read_text())
            elif self.cgroups.version == 1:
                memory = int((group["memory"] / "memory.usage_in_bytes").read_text())
                acct = self._cpuacct(name)
                if acct is not None:
                    cpu = int((acct / "cpuacct.usage").read_text()) / 1e9
        return cpu, memory

    def prepare(self, paths: MachinePaths, uid: int, read_only: tuple, kvm: bool) -> SandboxMounts:
        """The machine's directories, identity files and (KVM) device node, owned right."""
        for directory in (paths.root.parent, paths.root):
            directory.mkdir(parents=True, exist_ok=True)
            directory.chmod(0o711)
        paths.m.mkdir(exist_ok=True)
        paths.config.mkdir(exist_ok=True)
        os.chown(paths.m, uid, uid)
        paths.m.chmod(0o700)
        passwd, group = identity_files(paths.etc, uid)
        resolv = paths.root / "resolv.conf"
        resolv.write_text(resolv_conf())
        resolv.chmod(0o644)
        devices: tuple = ()
        if kvm:
            self._kvm_node(paths, uid)
            devices = ((paths.kvm, "/dev/kvm"),)
        return SandboxMounts(
            app_dir=paths.m,
            data_dir=paths.m,
            passwd_file=passwd,
            group_file=group,
            read_only=read_only,
            resolv_file=resolv if self.network is not None else None,
            devices=devices,
        )

    def _kvm_node(self, paths: MachinePaths, uid: int) -> None:
        node = paths.kvm
        try:
            st = os.lstat(node)
            ok = stat.S_ISCHR(st.st_mode) and st.st_rdev == os.makedev(KVM_MAJOR, KVM_MINOR)
            if not ok or st.st_uid != uid:
                node.unlink()
                raise FileNotFoundError
        except FileNotFoundError:
            os.mknod(node, 0o600 | stat.S_IFCHR, os.makedev(KVM_MAJOR, KVM_MINOR))
        os.chown(node, uid, uid)
        node.chmod(0o600)

    def _payload(
        self, paths: MachinePaths, mounts: SandboxMounts, argv: list[str], uid: int, **extra
    ) -> dict:
        bwrap = find_bwrap(self.settings.bwrap_path)
        return {
            "argv": bwrap_argv(bwrap, mounts, "exec " + shlex.join(argv)),
            "stage_paths": staged_paths(mounts),
            "env": {"PATH": "/usr/bin:/bin", "HOME": "/app", "LANG": "C.UTF-8"},
            "uid": uid,
            "gid": uid,
            **extra,
        }

    async def launch(
        self,
        paths: MachinePaths,
        mounts: SandboxMounts,
        argv: list[str],
        uid: int,
        limits: Limits,
        ssh_port: int,
        file_size: int | None,
        *,
        direct: bool = False,
        guest_port: int | None = None,
        extra_procs: tuple[str, ...] = (),
    ) -> ProcessHandle:
        """Start QEMU detached (the launcher's daemon mode); fail closed without isolation."""
        if self.network is None:
            raise MachineUnavailable(
                "VPSes need the sandbox's network namespace; this node runs with "
                "DEPLOY_INSECURE_SHARED_NETWORK, so no machine starts here"
            )
        try:
            plan = self.network.plan(ssh_port)
        except Exception as exc:  # missing pasta/ip: the message says what to install
            raise MachineUnavailable(str(exc)) from exc
        paths.exit_file.unlink(missing_ok=True)
        network = plan.spec(paths.root / "pasta.pid", paths.root / "pasta.log")
        if guest_port is not None:  # the host's ssh_port -> the namespace's guest_port
            inbound = inbound_spec(self.network.bind, ssh_port)
            network["pasta"] = [
                f"{a}:{guest_port}" if a == inbound else a for a in network["pasta"]
            ]
        rlimits = {"NOFILE": [4096, 4096], "CORE": [0, 0]}
        if file_size is not None:
            rlimits["FSIZE"] = [file_size, file_size]
        if not direct:  # a container's uids are its own range: its pids cgroup counts them
            rlimits["NPROC"] = [limits.pids_max + 8, limits.pids_max + 8]
        common = {
            "mode": "daemon",
            "network": network,
            "log": str(paths.log),
            "cgroup_procs": [
                *self.cgroups.create(paths.name, limits),
                *self.accounting_procs(paths.name),
                *extra_procs,
            ],
            "rlimits": rlimits,
            "exit_file": str(paths.exit_file),
        }
        if direct:  # the container's init: root, no bubblewrap, its own namespaces
            payload = {"argv": argv, "direct": True, "env": {"PATH": "/usr/bin:/bin"}, **common}
        else:
            payload = self._payload(paths, mounts, argv, uid, **common)
        proc = await _start_launcher(stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        out, err = await asyncio.wait_for(proc.communicate(json.dumps(payload).encode()), 30)
        if proc.returncode != 0 or not out:
            self.cgroups.remove(paths.name)
            raise MachineUnavailable(f"the launcher failed: {err.decode()[-300:]}")
        info = json.loads(out)
        if "error" in info:
            logger.error(
                "vps sandbox failed {}: {} {}", paths.name, info["error"], info.get("detail")
            )
            self.cgroups.remove(paths.name)
            raise MachineUnavailable(f"the machine's sandbox could not be set up: {info['error']}")
        return ProcessHandle(paths.name, info["pid"], info["monitor_pid"], info["start_time"])

    async def run(
        self,
        paths: MachinePaths,
        mounts: SandboxMounts,
        argv: list[str],
        uid: int,
        seconds: float = 600,
    ) -> str:
        """A short tool run (qemu-img) in the machine's sandbox with no network at all;
        returns its output, raises with it on failure."""
        log = paths.root / "tool.log"
        log.write_text("")
        payload = self._payload(
            paths, mounts, argv, uid, mode="exec", network=None, log=str(log), cgroup_procs=[]
        )
        proc = await _start_launcher(stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        try:
            _, err = await asyncio.wait_for(proc.communicate(json.dumps(payload).encode()), seconds)
        except TimeoutError:
            os.killpg(proc.pid, 9)
            await proc.wait()
            raise MachineUnavailable(f"{argv[0]} timed out") from None
        output = log.read_text(errors="replace")
        if proc.returncode != 0:
            said = (output or err.decode()).strip()[-300:]
            raise MachineUnavailable(f"{os.path.basename(argv[0])} {argv[1]} failed: {said}")
        return output
