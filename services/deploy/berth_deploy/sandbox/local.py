"""The local process driver: sandboxed processes on this node (bubblewrap, a network
namespace served by pasta, cgroups).

Apps are started through launcher.py, which detaches them from the caller (their own
session and process group, parented by a small monitor), so they keep running when the deploy
worker restarts; their stdout/stderr go straight to the release's log file.
"""

import asyncio
import dataclasses
import json
import os
import shutil
import signal
import sys
import time
from pathlib import Path

from loguru import logger

from berth_deploy.config import DeploySettings
from berth_deploy.sandbox.bubblewrap import (
    SandboxUnavailable,
    bwrap_argv,
    find_bwrap,
    staged_paths,
)
from berth_deploy.sandbox.cgroups import Cgroups
from berth_deploy.sandbox.driver import ExitStatus, ProcessHandle, ProcessSpec
from berth_deploy.sandbox.network import Network, resolv_conf
from berth_deploy.sandbox.oci_runtime import crun_argv, oci_config

LAUNCHER = Path(__file__).with_name("launcher.py")
LAUNCHER_ENV = {"PATH": "/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8"}
RLIMIT_FILE_SIZE = 2 * 1024**3


def read_stat(pid: int) -> tuple[str, int, int, int] | None:
    """(comm, state, pgrp, start time) of a process, or None when it is gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            data = f.read()
    except OSError:
        return None
    comm = data[data.index(b"(") + 1 : data.rindex(b")")].decode(errors="replace")
    fields = data[data.rindex(b")") + 2 :].split()
    return comm, fields[0].decode(), int(fields[2]), int(fields[19])


def group_members(pgid: int) -> list[tuple[int, str]]:
    members = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        stat = read_stat(int(entry))
        if stat and stat[2] == pgid and stat[1] != "Z":
            members.append((int(entry), stat[0]))
    return members


class LocalDriver:
    def __init__(self, settings: DeploySettings):
        self.settings = settings
        self.run_dir = settings.data_dir / "run"
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.run_dir.chmod(0o700)
        self.cgroups = Cgroups(settings.cgroup_root, settings.cgroup_parent)
        self._bwrap: str | None = None
        self._crun: str | None = None
        #: None only where an operator turned isolation off (DEPLOY_INSECURE_SHARED_NETWORK)
        self.network: Network | None = None
        self.resolv_file: Path | None = None
        if not settings.insecure_shared_network:
            self.network = Network(
                settings.pasta_path,
                settings.ip_path,
                settings.blocked_networks,
                str(settings.app_bind_address),
            )
            self.resolv_file = self.run_dir / "resolv.conf"
            self.resolv_file.write_text(resolv_conf())
            self.resolv_file.chmod(0o644)

    @property
    def bwrap(self) -> str:
        if self._bwrap is None:
            self._bwrap = find_bwrap(self.settings.bwrap_path)
        return self._bwrap

    @property
    def crun(self) -> str:
        """crun, for containers; only a root driver can give them the app's uid."""
        if self._crun is None:
            found = shutil.which(self.settings.crun_path)
            if not found:
                raise SandboxUnavailable(
                    "crun is not installed on this node: apt-get install crun "
                    "(scripts/install-system-deps.sh does it)"
                )
            if os.geteuid() != 0:
                raise SandboxUnavailable("containers need a deploy worker running as root")
            self._crun = found
        return self._crun

    def exit_file(self, name: str) -> Path:
        return self.run_dir / f"{name}.exit"

    def scratch_log(self, name: str) -> Path:
        """A platform-side file for a step's raw output (git's), summarised by the caller."""
        return self.run_dir / f"{name}.out"

    def refused_networks(self) -> list[str]:
        """Networks a sandbox may not reach: the settings' and this host's own."""
        if self.network is None:
            return list(self.settings.blocked_networks)
        return self.network.refused()

    def pasta_log(self, name: str) -> Path:
        """pasta's own messages (host details: never shown to the app's owner)."""
        return self.run_dir / f"{name}.pasta.log"

    def _spec(self, spec: ProcessSpec, mode: str) -> bytes:
        network = None
        mounts = spec.mounts
        run = spec.container
        if self.network is not None:
            inner = run.inner_port if run else None
            plan = self.network.plan(spec.port, inner, low_ports=run is not None)
            network = plan.spec(self.run_dir / f"{spec.name}.pasta.pid", self.pasta_log(spec.name))
            mounts = dataclasses.replace(mounts, resolv_file=self.resolv_file)
        elif run is not None:
            raise SandboxUnavailable("containers run only in their own network namespace")
        payload: dict = {"runtime": "bwrap"}
        if run is not None:
            payload = {
                "runtime": "crun",
                "argv": crun_argv(self.crun, "/tmp/crun", spec.name),  # noqa: S108 - launcher's tmpfs
                "stage_paths": [str(run.rootfs), str(run.data_dir)],
                "oci": oci_config(run, spec.uid, {}),
            }
        elif spec.builder_argv is not None:
            self.crun  # noqa: B018 - the same checks: crun installed, a root driver
            etc = [(str(mounts.passwd_file), "/etc/passwd"), (str(mounts.group_file), "/etc/group")]
            if mounts.resolv_file is not None:
                etc.append((str(mounts.resolv_file), "/etc/resolv.conf"))
            payload |= {
                "runtime": "direct",
                "argv": list(spec.builder_argv),
                "stage_paths": staged_paths(mounts),
                "etc_binds": etc,
            }
        else:
            payload["argv"] = bwrap_argv(self.bwrap, mounts, spec.command)
            payload["stage_paths"] = staged_paths(mounts)
        cgroup_procs = self.cgroups.create(spec.name, spec.limits)
        payload |= {
            "mode": mode,
            "network": network,
            "env": spec.env,
            "log": str(spec.log_path),
            "uid": spec.uid,
            "gid": spec.uid,
            "cgroup_procs": cgroup_procs,
            "rlimits": {
                "NOFILE": [4096, 4096],
                "CORE": [0, 0],
                "FSIZE": [RLIMIT_FILE_SIZE, RLIMIT_FILE_SIZE],
                # per-uid process count: the fallback when the pids cgroup is unavailable
                "NPROC": [spec.limits.pids_max + 8, spec.limits.pids_max + 8],
            },
            "exit_file": str(self.exit_file(spec.name)),
        }
        return json.dumps(payload).encode()

    async def launch(self, spec: ProcessSpec) -> ProcessHandle:
        self.exit_file(spec.name).unlink(missing_ok=True)
        payload = self._spec(spec, "daemon")
        proc = await _start_launcher(stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        out, err = await asyncio.wait_for(proc.communicate(payload), timeout=30)
        if proc.returncode != 0 or not out:
            raise RuntimeError(f"launcher failed ({proc.returncode}): {err.decode()[-500:]}")
        info = json.loads(out)
        if "error" in info:
            logger.error(
                "sandbox setup failed for {}: {} {}",
                spec.name,
                info["error"],
                info.get("detail", ""),
            )
            self.forget(spec.name)
            raise SandboxUnavailable(f"the sandbox could not be set up: {info['error']}")
        return ProcessHandle(spec.name, info["pid"], info["monitor_pid"], info["start_time"])

    async def run(self, spec: ProcessSpec) -> asyncio.subprocess.Process:
        """A build step: the launcher waits for it and exits with its status; the launcher's
        pid is the process group of the step (and of its pasta)."""
        payload = self._spec(spec, "exec")
        proc = await _start_launcher()
        assert proc.stdin is not None
        proc.stdin.write(payload)
        await proc.stdin.drain()
        proc.stdin.close()
        return proc

    def alive(self, handle: ProcessHandle) -> bool:
        stat = read_stat(handle.pid)
        if stat is None or stat[1] in ("Z", "X"):
            return False
        return not handle.start_time or stat[3] == handle.start_time

    def exit_status(self, name: str) -> ExitStatus | None:
        try:
            data = json.loads(self.exit_file(name).read_text())
        except (OSError, ValueError):
            return None
        return ExitStatus(data.get("exit_code"), bool(data.get("oom_killed")))

    def signal_app(self, handle: ProcessHandle, sig: int) -> None:
        """Signal the app's processes but not bubblewrap's own: they exit when the app does
        and report its exit status (bwrap itself would die of SIGTERM and lose it)."""
        for pid, comm in group_members(handle.pid):
            if comm == "bwrap":
                continue
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass

    def kill_group(self, pgid: int) -> None:
        try:
            os.killpg(pgid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass

    async def _wait_gone(self, handle: ProcessHandle, seconds: float) -> bool:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if not self.alive(handle):
                return True
            await asyncio.sleep(0.05)
        return not self.alive(handle)

    async def stop(self, handle: ProcessHandle, grace: float) -> None:
        """SIGTERM, `grace` seconds to exit, then SIGKILL for the group and its cgroup."""
        if self.alive(handle):
            self.signal_app(handle, signal.SIGTERM)
            if not await self._wait_gone(handle, grace):
                logger.info("{} ignored SIGTERM for {}s: SIGKILL", handle.name, grace)
                self.kill_group(handle.pid)
                await self._wait_gone(handle, 5)
        for pid in self.cgroups.pids(handle.name):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass

    def forget(self, name: str) -> None:
        self.exit_file(name).unlink(missing_ok=True)
        for path in (self.run_dir / f"{name}.pasta.pid", self.pasta_log(name)):
            path.unlink(missing_ok=True)
        self.cgroups.remove(name)


async def _start_launcher(**pipes: int) -> asyncio.subprocess.Process:
    """The root launcher (isolated Python, its own session), reading its spec on stdin."""
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-I",
        "-S",
        str(LAUNCHER),
        stdin=asyncio.subprocess.PIPE,
        env=LAUNCHER_ENV,
        start_new_session=True,
        **pipes,
    )
