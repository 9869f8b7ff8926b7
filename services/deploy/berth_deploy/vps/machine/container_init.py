"""Runs one system-container VPS (stdlib only, run as root by the sandbox launcher):

    python -I -S container_init.py <config.json>

The launcher has already put this process in the machine's network namespace (pasta, the
apps' `prohibit` routes) and its cgroups. Here:

- the serial-console stand-in: a pty whose slave is the container's /dev/console; its master
  is relayed to a Unix socket (one client at a time) and appended to the console log;
- a loop of boots: each boot is a fresh user namespace (uids 0-65535 inside are the host's
  map_base..map_base+65535: the container's root is an unprivileged host uid), with mount,
  pid, uts, ipc and cgroup namespaces of its own; the rootfs (the machine's own ext4 disk,
  mounted by the driver) becomes /, and Debian's systemd runs as pid 1. A reboot inside
  (pid 1 killed by SIGHUP, see pid_namespaces(7)) or a hard reset (SIGKILL) boots again;
  a power-off (SIGINT) or any other end stops the machine.

The network namespace is owned by the host's user namespace: root inside the container
cannot change its addresses or routes.
"""

import contextlib
import ctypes
import json
import os
import signal
import socket
import sys
import threading
import time

CLONE_NEWNS = 0x00020000
CLONE_NEWCGROUP = 0x02000000
CLONE_NEWUTS = 0x04000000
CLONE_NEWIPC = 0x08000000
CLONE_NEWUSER = 0x10000000
CLONE_NEWPID = 0x20000000
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC = 1, 2, 4, 8
MS_REMOUNT, MS_BIND, MS_MOVE, MS_REC = 32, 4096, 8192, 16384
MS_PRIVATE = 1 << 18
RESTART = 100
SYS_PIVOT_ROOT = 155  # x86_64
MNT_DETACH = 2

libc = ctypes.CDLL(None, use_errno=True)


def check(result: int, what: str) -> None:
    if result != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")


def mount(source, target, fstype, flags, data=None) -> None:
    def enc(v):
        return v.encode() if v is not None else None

    check(libc.mount(enc(source), enc(target), enc(fstype), flags, enc(data)), f"mount {target}")


def relay_console(master: int, sock_path: str, log_path: str) -> None:
    """Console bytes to the log and to the connected client; the client's bytes to the tty."""
    log = os.open(log_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    client: list[socket.socket] = []

    def pump_out() -> None:
        while True:
            try:
                data = os.read(master, 65536)
            except OSError:  # no slave open (between boots): wait for the next one
                threading.Event().wait(0.1)
                continue
            os.write(log, data)
            for c in list(client):
                try:
                    c.sendall(data)
                except OSError:
                    client.remove(c)

    threading.Thread(target=pump_out, daemon=True).start()
    try:
        os.unlink(sock_path)
    except FileNotFoundError:
        pass
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(sock_path)
    os.chmod(sock_path, 0o600)
    server.listen(1)
    while True:
        conn, _ = server.accept()
        client[:] = [conn]
        try:
            while data := conn.recv(65536):
                os.write(master, data)
        except OSError:
            pass
        finally:
            client.clear()
            conn.close()


def write_maps(pid: int, base: int) -> None:
    for name in ("uid_map", "gid_map"):
        with open(f"/proc/{pid}/{name}", "w") as f:
            f.write(f"0 {base} 65536\n")


def setup_root(cfg: dict, console: str) -> None:
    """As root, in a mount namespace of this boot: the machine's tree, then pivot into it.

    Everything of the host the container sees is bound here (its disk as /, a /dev with a
    few nodes and the console, the host's /sys read-only with the machine's own cgroup, /run
    with its config read-only) and the host's tree is detached, so the container's own
    mount namespace, made next, holds nothing else (and cannot unmount these: locked).
    """
    root, base = cfg["rootfs"], cfg["map_base"]
    check(libc.unshare(CLONE_NEWNS), "unshare(mnt)")
    mount(None, "/", None, MS_REC | MS_PRIVATE)
    mount(root, root, None, MS_BIND)
    # a proc the container's own (mounted over it by its pid 1) may be mounted beside: the
    # kernel lets a user namespace mount proc only where one is already fully visible
    mount("proc", f"{root}/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC)
    mount("tmpfs", f"{root}/dev", "tmpfs", MS_NOSUID, f"mode=755,size=4m,uid={base},gid={base}")
    for name in ("null", "zero", "full", "random", "urandom", "tty"):
        open(f"{root}/dev/{name}", "w").close()
        mount(f"/dev/{name}", f"{root}/dev/{name}", None, MS_BIND)
    open(f"{root}/dev/console", "w").close()
    mount(console, f"{root}/dev/console", None, MS_BIND)
    for name in ("pts", "shm"):
        os.mkdir(f"{root}/dev/{name}")
        os.chown(f"{root}/dev/{name}", base, base)
    os.symlink("pts/ptmx", f"{root}/dev/ptmx")
    for i, name in enumerate(("stdin", "stdout", "stderr")):
        os.symlink(f"/proc/self/fd/{i}", f"{root}/dev/{name}")
    os.symlink("/proc/self/fd", f"{root}/dev/fd")
    mount("/sys", f"{root}/sys", None, MS_BIND)
    ro = MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC
    mount(None, f"{root}/sys", None, ro)
    mount(cfg["cgroup"], f"{root}/sys/fs/cgroup", None, MS_BIND)
    mount(
        "tmpfs",
        f"{root}/run",
        "tmpfs",
        MS_NOSUID | MS_NODEV,
        f"mode=755,size=64m,uid={base},gid={base}",
    )
    os.mkdir(f"{root}/run/berth")
    mount(cfg["config"], f"{root}/run/berth", None, MS_BIND)
    mount(None, f"{root}/run/berth", None, ro)
    os.chdir(root)
    check(libc.syscall(SYS_PIVOT_ROOT, b".", b"."), "pivot_root")
    check(libc.umount2(b".", MNT_DETACH), "detaching the host's tree")
    os.chdir("/")


def start_init(hostname: str) -> None:
    """Pid 1 of the container (root of its user namespace): /proc, /dev/pts, then systemd."""
    mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC)
    mount(
        "devpts", "/dev/pts", "devpts", MS_NOSUID | MS_NOEXEC, "newinstance,ptmxmode=0666,mode=620"
    )
    mount("tmpfs", "/dev/shm", "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777")  # noqa: S108
    socket.sethostname(hostname)
    fd = os.open("/dev/console", os.O_RDWR)
    for i in (0, 1, 2):
        os.dup2(fd, i)
    os.closerange(3, 65536)
    for sig in range(1, signal.NSIG):
        with contextlib.suppress(OSError, ValueError):
            signal.signal(sig, signal.SIG_DFL)
    env = {"container": "berth", "TERM": "linux", "PATH": "/usr/sbin:/usr/bin:/sbin:/bin"}
    os.execve("/sbin/init", ["/sbin/init"], env)  # noqa: S606 - the machine's own init


def boot(cfg: dict, console: str) -> int:
    """One boot; RESTART when the machine asked for a reboot (or was reset)."""
    go_r, go_w = os.pipe()
    child = os.fork()
    if child == 0:
        try:
            os.close(go_w)
            setup_root(cfg, console)
            check(libc.unshare(CLONE_NEWUSER), "unshare(user)")
            os.read(go_r, 1)  # the parent writes our uid/gid maps meanwhile
            os.setresgid(0, 0, 0)
            os.setgroups([])
            os.setresuid(0, 0, 0)
            flags = CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWCGROUP
            check(libc.unshare(flags), "unshare(mnt,pid,uts,ipc,cgroup)")
            init = os.fork()
            if init == 0:
                try:
                    start_init(cfg["hostname"])
                except BaseException as exc:
                    sys.stderr.write(f"[berth] the container's init could not start: {exc}\n")
                    os._exit(1)
            _, status = os.waitpid(init, 0)
            if os.WIFSIGNALED(status) and os.WTERMSIG(status) in (signal.SIGHUP, signal.SIGKILL):
                os._exit(RESTART)
            os._exit(0)
        except BaseException as exc:
            sys.stderr.write(f"[berth] the container could not boot: {exc}\n")
            os._exit(1)
    os.close(go_r)
    own = os.readlink("/proc/self/ns/user")
    for _ in range(500):  # until the child has its user namespace
        try:
            if os.readlink(f"/proc/{child}/ns/user") != own:
                break
        except OSError:
            break
        time.sleep(0.01)
    with contextlib.suppress(OSError):
        write_maps(child, cfg["map_base"])
    os.write(go_w, b"G")
    os.close(go_w)
    _, status = os.waitpid(child, 0)
    return os.WEXITSTATUS(status) if os.WIFEXITED(status) else 1


def main() -> None:
    with open(sys.argv[1]) as f:
        cfg = json.load(f)
    # the namespace is this machine's alone, owned by the host's user namespace: let its
    # root (unprivileged here) bind sshd's port 22 and whatever else it serves
    with open("/proc/sys/net/ipv4/ip_unprivileged_port_start", "w") as f:
        f.write("0")
    master, slave = os.openpty()
    console = os.ttyname(slave)
    os.chown(console, cfg["map_base"], cfg["map_base"] + 5)  # root and tty inside
    threading.Thread(
        target=relay_console, args=(master, cfg["console_socket"], cfg["console_log"]), daemon=True
    ).start()
    for sig in (signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    while boot(cfg, console) == RESTART:
        sys.stderr.write("[berth] the machine rebooted\n")
    os.close(slave)


if __name__ == "__main__":
    main()
