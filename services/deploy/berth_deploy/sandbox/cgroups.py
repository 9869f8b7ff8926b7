"""Memory, CPU and process-count limits through cgroups (v1 or v2), one group per process.

Where cgroups are not writable (an unprivileged deploy worker), limits fall back to rlimits
(process count and file size only) and `enforced` says so.
"""

import os
import time
from dataclasses import dataclass
from pathlib import Path

from loguru import logger

CPU_PERIOD_US = 100_000


@dataclass(frozen=True)
class Limits:
    memory_mb: int
    cpu_millis: int
    pids_max: int


class Cgroups:
    def __init__(self, root: Path, parent: str):
        self.root = root
        self.parent = parent
        self.version = self._detect()
        if self.version is None:
            logger.warning("cgroups not writable under {}: limits by rlimits only", root)

    def _detect(self) -> int | None:
        if (self.root / "cgroup.controllers").exists():
            base = self.root / self.parent
            try:
                base.mkdir(exist_ok=True)
                (self.root / "cgroup.subtree_control").write_text("+memory +cpu +pids")
                (base / "cgroup.subtree_control").write_text("+memory +cpu +pids")
                return 2
            except OSError:
                return None
        try:
            for controller in ("memory", "cpu", "pids"):
                (self.root / controller / self.parent).mkdir(exist_ok=True)
            return 1
        except OSError:
            return None

    @property
    def enforced(self) -> bool:
        return self.version is not None

    def _dirs(self, name: str) -> dict[str, Path]:
        if self.version == 2:
            return {"all": self.root / self.parent / name}
        return {c: self.root / c / self.parent / name for c in ("memory", "cpu", "pids")}

    def create(self, name: str, limits: Limits) -> list[str]:
        """Make the groups of `name` with its limits; the cgroup.procs files to join."""
        if self.version is None:
            return []
        dirs = self._dirs(name)
        for directory in dirs.values():
            directory.mkdir(exist_ok=True)
        memory = limits.memory_mb * 1024 * 1024
        quota = limits.cpu_millis * CPU_PERIOD_US // 1000
        if self.version == 2:
            d = dirs["all"]
            (d / "memory.max").write_text(str(memory))
            if (d / "memory.swap.max").exists():
                (d / "memory.swap.max").write_text("0")
            (d / "cpu.max").write_text(f"{quota} {CPU_PERIOD_US}")
            (d / "pids.max").write_text(str(limits.pids_max))
        else:
            (dirs["memory"] / "memory.limit_in_bytes").write_text(str(memory))
            (dirs["cpu"] / "cpu.cfs_period_us").write_text(str(CPU_PERIOD_US))
            (dirs["cpu"] / "cpu.cfs_quota_us").write_text(str(quota))
            (dirs["pids"] / "pids.max").write_text(str(limits.pids_max))
        return [str(d / "cgroup.procs") for d in dirs.values()]

    def pids(self, name: str) -> list[int]:
        """Every process still in the group (a forked-off grandchild included)."""
        if self.version is None:
            return []
        directory = self._dirs(name)["all" if self.version == 2 else "pids"]
        try:
            return [int(p) for p in (directory / "cgroup.procs").read_text().split()]
        except (OSError, ValueError):
            return []

    def remove(self, name: str) -> None:
        """Remove the groups (retrying briefly: the last processes may still be exiting)."""
        if self.version is None:
            return
        for directory in self._dirs(name).values():
            for attempt in range(20):
                try:
                    os.rmdir(directory)
                    break
                except FileNotFoundError:
                    break
                except OSError as exc:
                    if attempt == 19:
                        logger.warning("cgroup {} not removed: {}", directory, exc)
                    time.sleep(0.05)


def usage(root: Path, parent: str, name: str) -> tuple[int | None, int | None]:
    """(memory bytes, process count) of a process's group on this node, where it can be read
    (None: not on this node, or not measured)."""

    def read(path: Path) -> int | None:
        try:
            return int(path.read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return None

    if (root / "cgroup.controllers").exists():
        group = root / parent / name
        memory = read(group / "memory.current")
        procs = group / "cgroup.procs"
    else:
        memory = read(root / "memory" / parent / name / "memory.usage_in_bytes")
        procs = root / "pids" / parent / name / "cgroup.procs"
    try:
        count = len(procs.read_text().split())
    except OSError:
        count = None
    return memory, count
