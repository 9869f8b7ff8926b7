"""The bubblewrap sandbox an app's build steps and processes run in.

Inside: the host's /usr (read only), a few files of /etc, a private /tmp, /proc and /dev,
the release at /app and the app's data directory at /data ($HOME). Nothing else of the host
exists there: not var/ (the platform's state, secrets, database files), not other apps'
directories, not the platform's environment (the process gets a clean env). The process runs
as the app's own unprivileged uid in new user, pid, ipc and uts namespaces, and dies with
its parent. Its network namespace is made by the launcher before bubblewrap starts
(network.py); /etc/resolv.conf then names the resolver that namespace has.

bubblewrap itself is started with a fixed environment (launcher.py's `BWRAP_ENV`): the app's
variables reach it as --clearenv/--setenv options read from a memfd (--args), set only for the
command it runs inside, so no loader variable of the app's ever reaches bubblewrap's own
(host-side) dynamic loader, and no value shows in a host process's command line.
"""

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from berth_common.errors import BerthError

# what programs need from /etc: name resolution, TLS roots, time zone, alternatives links
ETC_FILES = (
    "hosts",
    "nsswitch.conf",
    "host.conf",
    "gai.conf",
    "ssl",
    "ca-certificates",
    "ca-certificates.conf",
    "localtime",
    "timezone",
    "alternatives",
    "ld.so.cache",
    "ld.so.conf",
    "ld.so.conf.d",
    "mime.types",
)
TOOLS_DIR = "/opt/berth/bin"


class SandboxUnavailable(BerthError):
    status_code = 503
    code = "sandbox_unavailable"


@dataclass(frozen=True)
class SandboxMounts:
    app_dir: Path
    data_dir: Path
    passwd_file: Path
    group_file: Path
    #: host binaries made available under /opt/berth/bin (uv for python builds)
    tools: tuple[Path, ...] = ()
    #: host directories visible read only at their own path (a local repository to clone)
    read_only: tuple[Path, ...] = ()
    #: /etc/resolv.conf inside; None: the host's (a sandbox sharing the host's network)
    resolv_file: Path | None = None
    #: host device nodes bound inside as (host path, path inside): a VPS's own /dev/kvm node
    devices: tuple[tuple[Path, str], ...] = ()


def find_bwrap(configured: str) -> str:
    path = shutil.which(configured)
    if not path:
        raise SandboxUnavailable(
            "bubblewrap (bwrap) is not installed on this node: "
            "apt-get install bubblewrap (see README, Deploy)"
        )
    return path


def _root_links() -> list[str]:
    """/bin, /lib, ... as on the host: symlinks into /usr on merged-/usr systems."""
    args: list[str] = []
    for name in ("bin", "sbin", "lib", "lib32", "lib64", "libx32"):
        host = Path("/") / name
        if host.is_symlink():
            args += ["--symlink", os.readlink(host), f"/{name}"]
        elif host.is_dir():
            args += ["--ro-bind", str(host), f"/{name}"]
    return args


def bwrap_argv(bwrap: str, mounts: SandboxMounts, command: str) -> list[str]:
    """The argv that runs `command` with /bin/sh -c inside the sandbox, in /app (the launcher
    adds the command's environment)."""
    argv = [
        bwrap,
        "--unshare-user",
        "--unshare-pid",
        "--unshare-ipc",
        "--unshare-uts",
        "--unshare-cgroup-try",
        "--disable-userns",
        "--die-with-parent",
        "--hostname",
        "app",
        "--ro-bind",
        "/usr",
        "/usr",
        *_root_links(),
        "--proc",
        "/proc",
        "--dev",
        "/dev",
        "--tmpfs",
        "/tmp",  # noqa: S108 - the sandbox's own, empty /tmp
        "--dir",
        "/etc",
    ]
    for name in ETC_FILES:
        host = Path("/etc") / name
        if host.exists():
            argv += ["--ro-bind", str(host), str(host)]
    resolv = mounts.resolv_file or Path("/etc/resolv.conf")
    argv += ["--ro-bind", str(resolv), "/etc/resolv.conf"]
    # Host paths under the deploy data directory: the launcher stages them (staged_paths) so
    # the app's uid need not be able to traverse their parents on the host.
    argv += [
        "--ro-bind",
        str(mounts.passwd_file),
        "/etc/passwd",
        "--ro-bind",
        str(mounts.group_file),
        "/etc/group",
        "--bind",
        str(mounts.app_dir),
        "/app",
        "--bind",
        str(mounts.data_dir),
        "/data",
    ]
    for tool in mounts.tools:
        argv += ["--ro-bind", str(tool), f"{TOOLS_DIR}/{tool.name}"]
    for directory in mounts.read_only:
        argv += ["--ro-bind", str(directory), str(directory)]
    for node, inside in mounts.devices:
        argv += ["--dev-bind", str(node), inside]
    argv += ["--chdir", "/app", "--", "/bin/sh", "-c", command]
    return argv


def staged_paths(mounts: SandboxMounts) -> list[str]:
    return [
        str(p)
        for p in (
            mounts.passwd_file,
            mounts.group_file,
            mounts.app_dir,
            mounts.data_dir,
            *mounts.tools,
            *mounts.read_only,
            *((mounts.resolv_file,) if mounts.resolv_file else ()),
            *(node for node, _ in mounts.devices),
        )
    ]


def identity_files(directory: Path, uid: int) -> tuple[Path, Path]:
    """/etc/passwd and /etc/group for the sandbox: root, nobody and the app's own user."""
    directory.mkdir(parents=True, exist_ok=True)
    passwd = directory / "passwd"
    group = directory / "group"
    passwd.write_text(
        "root:x:0:0:root:/root:/usr/sbin/nologin\n"
        "nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n"
        f"app:x:{uid}:{uid}:app:/data:/bin/sh\n"
    )
    group.write_text(f"root:x:0:\nnogroup:x:65534:\napp:x:{uid}:\n")
    for path in (passwd, group):
        path.chmod(0o644)
    return passwd, group
