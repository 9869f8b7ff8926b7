"""The launcher's network half (stdlib only, imported by launcher.py): a network namespace of
the child's own, served by pasta, configured with `ip -batch` before the app's command runs.

See network.py for what the namespace allows; this file only carries it out, as root, between
the fork and the exec of the sandboxed process.
"""

import ctypes
import os
import signal
import subprocess
import time

CLONE_NEWNET = 0x40000000
PR_SET_PDEATHSIG = 1


class SetupFailed(Exception):
    """The sandbox could not be set up. The message is safe to show to the app's owner;
    `detail` (pasta's own words, which may name host addresses) is for the platform's log."""

    def __init__(self, message: str, detail: str = "") -> None:
        super().__init__(message)
        self.detail = detail


def libc():
    return ctypes.CDLL(None, use_errno=True)


def _write_sysctl(path: str, value: str) -> None:
    if os.path.exists(path):
        with open(path, "w") as f:
            f.write(value)


def enter_network(net: dict, up: int, down: int) -> None:
    """In the child: a network namespace of its own, configured once pasta serves it."""
    if libc().unshare(CLONE_NEWNET) != 0:
        raise SetupFailed(f"unshare(CLONE_NEWNET): {os.strerror(ctypes.get_errno())}")
    for scope in ("all", "default"):
        _write_sysctl(f"/proc/sys/net/ipv6/conf/{scope}/disable_ipv6", "1")
    if net.get("low_ports"):
        _write_sysctl("/proc/sys/net/ipv4/ip_unprivileged_port_start", "0")
    os.write(up, b"U")
    if os.read(down, 1) != b"P":
        raise SetupFailed("the network stack did not start")
    result = subprocess.run(  # noqa: S603 - fixed argv, commands from the deploy service
        [net["ip"], "-batch", "-"],
        input=net["ip_batch"],
        capture_output=True,
        text=True,
        timeout=20,
        check=False,
    )
    if result.returncode != 0:
        raise SetupFailed(f"configuring the namespace failed: {result.stderr.strip()[-300:]}")
    os.write(up, b"C")


def expect(fd: int, token: bytes) -> None:
    """Read the child's next step marker; its error message, or EOF, is a failure."""
    got = os.read(fd, 1)
    if got == token:
        return
    if got == b"E":
        chunks = []
        while chunk := os.read(fd, 4096):
            chunks.append(chunk)
        raise SetupFailed(b"".join(chunks).decode(errors="replace"))
    raise SetupFailed("the sandboxed process ended during network setup")


def start_pasta(net: dict, child: int) -> int:
    """pasta on the child's namespace (handed over as fd 3); returns once it serves it."""
    pidfile = net["pidfile"]
    try:
        os.unlink(pidfile)
    except FileNotFoundError:
        pass
    ns = os.open(f"/proc/{child}/ns/net", os.O_RDONLY)
    log = os.open(net["log"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    pid = os.fork()
    if pid == 0:
        try:
            null = os.open(os.devnull, os.O_RDONLY)
            os.dup2(null, 0)
            os.dup2(log, 1)
            os.dup2(log, 2)
            os.dup2(ns, 3)
            os.set_inheritable(3, True)  # dup2 onto itself keeps O_CLOEXEC
            os.closerange(4, 65536)
            # ignored signals survive exec (Python ignores SIGPIPE, the monitor more): pasta
            # refuses to start with them
            for sig in (signal.SIGHUP, signal.SIGINT, signal.SIGPIPE, signal.SIGTERM):
                signal.signal(sig, signal.SIG_DFL)
            signal.pthread_sigmask(signal.SIG_SETMASK, [])
            # pasta dies with its monitor, should the monitor ever be killed
            libc().prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
            argv = [*net["pasta"], "--pid", pidfile]
            os.execv(argv[0], argv)  # noqa: S606 - fixed argv
        finally:
            os._exit(127)
    os.close(ns)
    os.close(log)
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            with open(net["log"], errors="replace") as f:
                detail = f.read()[-500:].strip() or f"wait status {status}"
            raise SetupFailed("the network stack (pasta) could not start", detail)
        try:
            if os.path.getsize(pidfile) > 0:
                return pid
        except OSError:
            pass
        time.sleep(0.005)
    stop_pasta(pid)
    raise SetupFailed("the network stack (pasta) did not start within 15 s")


def stop_pasta(pid: int | None) -> None:
    if not pid:
        return
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    for _ in range(200):
        done, _ = os.waitpid(pid, os.WNOHANG)
        if done:
            return
        time.sleep(0.01)
    os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)
