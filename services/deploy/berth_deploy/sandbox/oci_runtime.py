"""How a container instance runs: crun, rootless, inside the sandbox the launcher makes.

The launcher does for a container what it does for an app (network namespace served by pasta
with its `prohibit` routes, cgroups with the app's limits, rlimits, the log file, the app's
unprivileged uid), then execs `crun run` instead of bubblewrap. crun, as that uid, adds a user
namespace in which only the image's user exists (mapped to the app's uid), and new mount,
pid, ipc and uts namespaces; it joins no network namespace of its own, so the container
lives in the one the launcher made. The root filesystem is the image unpacked for the release
(read only; /tmp, /run and /var/tmp are the container's own tmpfs, /data its persistent
directory). The runtime config, which carries the app's env, reaches crun as a memfd.

What crun needs from the host is set up by the launcher in the process's private mount
namespace: the cgroup tree hidden (the process has already joined its cgroups; crun manages
none), crun's state on a private tmpfs.
"""

import json
from dataclasses import dataclass
from pathlib import Path

from berth_deploy.sandbox.bubblewrap import SandboxUnavailable

#: Docker's default capability set: each holds only inside the container's user namespace
CAPABILITIES = [
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_FSETID",
    "CAP_FOWNER",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETPCAP",
    "CAP_NET_BIND_SERVICE",
    "CAP_SYS_CHROOT",
    "CAP_KILL",
    "CAP_AUDIT_WRITE",
]
MASKED = [
    "/proc/acpi",
    "/proc/kcore",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/proc/sched_debug",
    "/proc/scsi",
    "/sys/firmware",
]
READ_ONLY = ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"]
DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


class ImageNotRunnable(SandboxUnavailable):
    status_code = 422
    code = "image_not_runnable"


@dataclass(frozen=True)
class ContainerRun:
    """What runs in a release's container (from the image's config and the app's settings)."""

    rootfs: Path
    data_dir: Path
    args: list[str]
    env: dict[str, str]
    cwd: str
    uid: int
    gid: int
    #: the port the process listens on inside (pasta forwards the instance's port to it)
    inner_port: int | None

    def to_json(self) -> dict:
        return {
            "args": self.args,
            "env": self.env,
            "cwd": self.cwd,
            "uid": self.uid,
            "gid": self.gid,
            "inner_port": self.inner_port,
        }

    @classmethod
    def from_json(cls, data: dict, rootfs: Path, data_dir: Path) -> "ContainerRun":
        return cls(
            rootfs,
            data_dir,
            list(data["args"]),
            dict(data["env"]),
            data["cwd"],
            int(data["uid"]),
            int(data["gid"]),
            data.get("inner_port"),
        )


def _user(value: str) -> tuple[int, int]:
    user, _, group = (value or "").partition(":")
    if user in ("", "root"):
        uid = 0
    elif user.isdigit():
        uid = int(user)
    else:
        raise ImageNotRunnable(
            f"the image runs as user {user[:40]!r}: only numeric users (USER 1000) or root "
            "are supported"
        )
    if group.isdigit():
        gid = int(group)
    elif group in ("", "root"):
        gid = 0 if group == "root" else uid
    else:
        raise ImageNotRunnable(f"the image's group {group[:40]!r} is not numeric")
    if uid > 65534 or gid > 65534:
        raise ImageNotRunnable("the image's user or group id is above 65534")
    return uid, gid


def _exposed_port(config: dict) -> int | None:
    for key in sorted(config.get("ExposedPorts") or {}):
        port, _, proto = key.partition("/")
        if (proto or "tcp") == "tcp" and port.isdigit() and 0 < int(port) < 65536:
            return int(port)
    return None


def run_record(image_config: dict, port: int | None, command: str | None) -> dict:
    """The runnable part of an image's config (its `config` object), as run_from_image needs.

    port: the app's setting, else the image's first EXPOSEd TCP port, else none (the
    process then gets $PORT and listens there). command: the app's run command, which
    replaces the image's CMD (`sh -c` style, as a Procfile line would).
    """
    config = image_config.get("config") or {}
    entrypoint = list(config.get("Entrypoint") or [])
    cmd = ["/bin/sh", "-c", command] if command else list(config.get("Cmd") or [])
    args = entrypoint + cmd if not command else cmd
    if not args:
        raise ImageNotRunnable("the image has neither ENTRYPOINT nor CMD: set a run command")
    env = {}
    for item in config.get("Env") or []:
        name, sep, value = str(item).partition("=")
        if sep and name:
            env[name] = value
    env.setdefault("PATH", DEFAULT_PATH)
    uid, gid = _user(str(config.get("User") or ""))
    workdir = str(config.get("WorkingDir") or "/")
    if not workdir.startswith("/"):
        workdir = "/" + workdir
    return {
        "args": [str(a) for a in args],
        "env": env,
        "cwd": workdir,
        "uid": uid,
        "gid": gid,
        "inner_port": port or _exposed_port(config),
    }


def _tmpfs(destination: str, mode: str = "1777", size: str = "64m") -> dict:
    return {
        "destination": destination,
        "type": "tmpfs",
        "source": "tmpfs",
        "options": ["nosuid", "nodev", f"mode={mode}", f"size={size}"],
    }


def oci_config(run: ContainerRun, host_uid: int, env: dict[str, str]) -> dict:
    """The OCI runtime config crun runs (env included: it travels in a memfd, never on disk)."""
    return {
        "ociVersion": "1.0.2",
        "hostname": "app",
        "root": {"path": str(run.rootfs), "readonly": True},
        "process": {
            "terminal": False,
            "user": {"uid": run.uid, "gid": run.gid},
            "args": run.args,
            "env": [f"{name}={value}" for name, value in env.items()],
            "cwd": run.cwd,
            "noNewPrivileges": True,
            "capabilities": {key: CAPABILITIES for key in ("bounding", "effective", "permitted")},
            "rlimits": [{"type": "RLIMIT_CORE", "hard": 0, "soft": 0}],
        },
        "mounts": [
            {"destination": "/proc", "type": "proc", "source": "proc"},
            _tmpfs("/dev", "755", "64k"),
            {
                "destination": "/dev/pts",
                "type": "devpts",
                "source": "devpts",
                "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620"],
            },
            _tmpfs("/dev/shm"),  # noqa: S108 - inside the container
            {"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue"},
            _tmpfs("/sys", "555", "4k"),
            _tmpfs("/tmp"),  # noqa: S108 - the container's own
            _tmpfs("/run", "755"),
            _tmpfs("/var/tmp"),  # noqa: S108 - the container's own
            {
                "destination": "/data",
                "type": "bind",
                "source": str(run.data_dir),
                "options": ["rbind", "rw", "nosuid", "nodev"],
            },
        ],
        "linux": {
            "uidMappings": [{"containerID": run.uid, "hostID": host_uid, "size": 1}],
            "gidMappings": [{"containerID": run.gid, "hostID": host_uid, "size": 1}],
            # no "network": the container stays in the namespace the launcher made
            "namespaces": [{"type": t} for t in ("user", "mount", "pid", "ipc", "uts")],
            "maskedPaths": MASKED,
            "readonlyPaths": READ_ONLY,
        },
    }


def crun_argv(crun: str, state_dir: str, name: str) -> list[str]:
    """`@config` is replaced by the launcher with the memfd holding the config."""
    return [
        crun,
        "--root",
        state_dir,
        "--cgroup-manager=disabled",
        "run",
        "--no-new-keyring",
        "--bundle",
        "/",
        "--config",
        "@config",
        name,
    ]


def dumps(config: dict) -> bytes:
    return json.dumps(config).encode()
