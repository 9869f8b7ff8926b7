"""The process-driver interface: how the deploy service starts, watches and stops processes.

One real driver exists (`LocalDriver`: sandboxed processes on this node). A Docker Engine
driver is the production path on paper; it gets written when it can be tested against a
real engine.
"""

from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from berth_deploy.sandbox.bubblewrap import SandboxMounts
from berth_deploy.sandbox.cgroups import Limits
from berth_deploy.sandbox.oci_runtime import ContainerRun


@dataclass(frozen=True)
class ProcessSpec:
    #: unique per process on the node: names its cgroup and its exit record
    name: str
    command: str
    mounts: SandboxMounts
    env: dict[str, str] = field(repr=False)
    log_path: Path
    uid: int
    limits: Limits
    #: the port Traefik reaches a web instance on (host DEPLOY_APP_BIND_ADDRESS, 127.0.0.1
    #: by default; 127.0.0.1 inside)
    port: int | None = None
    #: an OCI container (crun on the image's root filesystem) instead of bubblewrap over the
    #: host's /usr: `command` and `mounts` are then unused
    container: ContainerRun | None = None
    #: a builder that makes its own namespaces (buildah), run as the app's uid in the
    #: launcher's network namespace and cgroups with the mounts' host paths staged in argv
    builder_argv: list[str] | None = None


@dataclass(frozen=True)
class ProcessHandle:
    name: str
    pid: int
    monitor_pid: int | None
    start_time: int


@dataclass(frozen=True)
class ExitStatus:
    exit_code: int | None
    oom_killed: bool = False

    def describe(self) -> str:
        if self.oom_killed:
            return "killed: out of memory (raise the app's memory limit)"
        if self.exit_code is None:
            return "exited (status unknown)"
        if self.exit_code > 128:
            return f"killed by signal {self.exit_code - 128}"
        return f"exited with code {self.exit_code}"


class ProcessDriver(Protocol):
    async def launch(self, spec: ProcessSpec) -> ProcessHandle:
        """Start a long-running process that outlives the caller."""

    async def run(self, spec: ProcessSpec) -> "ForegroundProcess":
        """Start a build step the caller waits for."""

    def alive(self, handle: ProcessHandle) -> bool: ...

    def exit_status(self, name: str) -> ExitStatus | None: ...

    async def stop(self, handle: ProcessHandle, grace: float) -> None: ...

    def kill_group(self, pgid: int) -> None: ...

    def forget(self, name: str) -> None: ...

    def scratch_log(self, name: str) -> Path: ...

    def refused_networks(self) -> list[str]: ...


class ForegroundProcess(Protocol):
    pid: int

    async def wait(self) -> int: ...
