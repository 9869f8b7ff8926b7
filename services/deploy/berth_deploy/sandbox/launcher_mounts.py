"""The launcher's mounts (stdlib only, imported by launcher.py): the sandbox's host paths
staged where the app's uid can reach them, and what crun and rootless builders need hidden
or replaced, all in the launcher's private mount namespace."""

import ctypes
import json
import os

#: crun's state (the container's config included): on the private tmpfs of stage()
CRUN_STATE = "/tmp/crun"  # noqa: S108 - our own tmpfs, in a private mount namespace
#: setuid helpers crun would try (and fail: the app's uid has no name) before mapping itself
ID_MAP_HELPERS = ("/usr/bin/newuidmap", "/usr/bin/newgidmap")

CLONE_NEWNS = 0x00020000
MS_BIND = 0x1000
MS_REC = 0x4000
MS_PRIVATE = 1 << 18
MS_NOSUID = 0x2
MS_NODEV = 0x4
STAGE = "/tmp"  # noqa: S108 - a tmpfs of our own, in a private mount namespace


def _mount(libc, source: str | None, target: str, fstype: str | None, flags: int, data=None):
    def enc(value: str | None) -> bytes | None:
        return value.encode() if value is not None else None

    if libc.mount(enc(source), enc(target), enc(fstype), flags, enc(data)) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"mount {source} on {target}: {os.strerror(err)}")


def stage(spec: dict) -> dict[str, str]:
    """Give the sandbox's host directories a path the app's uid can traverse.

    As root: a private mount namespace for this process only, a fresh tmpfs on /tmp and the
    host paths bind-mounted there (through fds opened first), so bubblewrap, running as the
    app's uid, never walks the host's parent directories (var/ may be 0700). Unprivileged:
    the paths are used as they are (their parents must then be traversable).
    """
    paths = spec.get("stage_paths") or []
    if not paths or os.geteuid() != 0:
        return {}
    container = spec.get("runtime") in ("crun", "direct")
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.unshare(CLONE_NEWNS) != 0:
        raise OSError(ctypes.get_errno(), "unshare(CLONE_NEWNS)")
    _mount(libc, None, "/", None, MS_REC | MS_PRIVATE)
    # opened in the new namespace (a bind source must be), before the tmpfs hides /tmp
    fds = {path: os.open(path, os.O_PATH) for path in paths}
    size = "4m" if container else "64k"
    _mount(libc, "tmpfs", STAGE, "tmpfs", MS_NOSUID | MS_NODEV, f"mode=0755,size={size}")
    staged = {}
    for index, (path, fd) in enumerate(fds.items()):
        target = f"{STAGE}/berth-{index}"
        if os.path.isdir(f"/proc/self/fd/{fd}"):
            os.mkdir(target, 0o755)
        else:
            os.close(os.open(target, os.O_CREAT | os.O_WRONLY, 0o644))
        _mount(libc, f"/proc/self/fd/{fd}", target, None, MS_BIND)
        os.close(fd)
        staged[path] = target
    argv = spec["argv"]
    for i in range(1, len(argv)):
        if argv[i - 1] in ("--bind", "--ro-bind", "--dev-bind") and argv[i] in staged:
            argv[i] = staged[argv[i]]
    if spec.get("runtime") == "crun":
        prepare_crun(libc, spec)
    elif spec.get("runtime") == "direct":
        prepare_direct(libc, spec, staged)
    return staged


def prepare_direct(libc, spec: dict, staged: dict[str, str]) -> None:
    """A builder that makes its own namespaces (buildah): the app's passwd, group and
    resolv.conf in place of the host's, the cgroup tree hidden, host paths staged in argv."""
    for source, target in spec.get("etc_binds", []):
        _mount(libc, staged.get(source, source), target, None, MS_BIND)
    if os.path.isdir("/sys/fs/cgroup"):
        _mount(libc, "tmpfs", "/sys/fs/cgroup", "tmpfs", MS_NOSUID | MS_NODEV, "size=4k")
    argv, env = spec["argv"], spec["env"]
    for path in sorted(staged, key=len, reverse=True):
        argv[:] = [arg.replace(path, staged[path]) for arg in argv]
        for name in env:
            env[name] = env[name].replace(path, staged[path])


def prepare_crun(libc, spec: dict) -> None:
    """crun's state dir, the cgroup tree out of its sight (the process is in its cgroups
    already and crun is to manage none), the id-map helpers out of its reach."""
    os.mkdir(CRUN_STATE, 0o700)
    os.chown(CRUN_STATE, spec["uid"], spec["gid"])
    if os.path.isdir("/sys/fs/cgroup"):
        _mount(libc, "tmpfs", "/sys/fs/cgroup", "tmpfs", MS_NOSUID | MS_NODEV, "size=4k")
    for helper in ID_MAP_HELPERS:
        if os.path.exists(helper):
            _mount(libc, "/dev/null", helper, None, MS_BIND)


def crun_config_fd(spec: dict, staged: dict[str, str]) -> int:
    """The container's runtime config in a memfd (it holds the app's env: never on disk),
    its host paths replaced by their staged ones."""
    config = spec["oci"]
    config["root"]["path"] = staged.get(config["root"]["path"], config["root"]["path"])
    for mount in config["mounts"]:
        if mount["type"] == "bind":
            mount["source"] = staged.get(mount["source"], mount["source"])
    config["process"]["env"] = [f"{name}={value}" for name, value in spec["env"].items()]
    fd = os.memfd_create("berth-oci", 0)
    os.write(fd, json.dumps(config).encode())
    os.lseek(fd, 0, os.SEEK_SET)
    return fd
