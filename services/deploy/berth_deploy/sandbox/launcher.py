"""Starts one sandboxed process for the local process driver (stdlib only, run as a script).

    python -I -S launcher.py < spec.json

The spec arrives on stdin (it carries the app's env, secrets included: never on disk).

Every process is forked, never exec'd in place, so that its network can be set up between
fork and exec: with a "network" entry in the spec, the child unshares a network namespace
(as root, so the namespace belongs to the host's user namespace and the app can never
reconfigure it), the parent starts pasta on it, the child configures addresses and routes
with `ip -batch` and only then becomes the app. Any failure on the way ends the child before
the app's command runs (fail closed) and is reported to the caller.

mode "exec" (builds): the launcher waits for the process and exits with its status; the
process stays in the launcher's process group, which the caller kills to cancel a build.

mode "daemon" (app instances): fork a monitor that leaves the caller's session, starts the
process, prints {"pid", "monitor_pid", "start_time"} (or {"error"}) on stdout and exits. The
monitor waits for the app, writes its exit status to `exit_file`, stops pasta and removes the
cgroups. The app is never a child of the deploy worker, so it outlives a worker restart and
never becomes its zombie.
"""

import json
import os
import resource
import signal
import sys
import time

# run as `python -I -S launcher.py`: isolated mode leaves this directory off sys.path
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from launcher_mounts import crun_config_fd, stage
from launcher_network import (
    PR_SET_PDEATHSIG,
    SetupFailed,
    enter_network,
    expect,
    libc,
    start_pasta,
    stop_pasta,
)

#: bubblewrap's (and crun's) own environment: fixed, whatever the app's is
BWRAP_ENV = {"PATH": "/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8"}

RLIMITS = {
    "NOFILE": resource.RLIMIT_NOFILE,
    "NPROC": resource.RLIMIT_NPROC,
    "CORE": resource.RLIMIT_CORE,
    "FSIZE": resource.RLIMIT_FSIZE,
}


def proc_start_time(pid: int) -> int:
    """Field 22 of /proc/<pid>/stat: the start time that tells a recycled pid apart."""
    with open(f"/proc/{pid}/stat", "rb") as f:
        data = f.read()
    return int(data[data.rindex(b")") + 2 :].split()[19])


def become_app(spec: dict, own_session: bool) -> dict[str, str]:
    """In the process that will exec the command: session, cgroups, limits, log, identity."""
    if own_session:
        os.setsid()
    # the log first: what fails from here on is told there, not to the monitor's /dev/null
    log = os.open(spec["log"], os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o600)
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.dup2(log, 1)
    os.dup2(log, 2)
    os.closerange(3, 65536)
    for procs in spec.get("cgroup_procs", []):
        with open(procs, "w") as f:
            f.write(str(os.getpid()))
    for name, (soft, hard) in spec.get("rlimits", {}).items():
        resource.setrlimit(RLIMITS[name], (soft, hard))
    staged = stage(spec)
    uid, gid = spec.get("uid"), spec.get("gid")
    if uid is not None and os.geteuid() == 0:
        os.setgroups([])
        os.setgid(gid if gid is not None else uid)
        os.setuid(uid)
    os.chdir(spec.get("cwd", "/"))
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGPIPE):
        signal.signal(sig, signal.SIG_DFL)
    signal.pthread_sigmask(signal.SIG_SETMASK, [])
    return staged


def env_options(env: dict) -> int:
    """A memfd of bubblewrap options (--args) that give the command inside exactly `env`."""
    options = ["--clearenv"]
    for name, value in env.items():
        options += ["--setenv", name, value]
    fd = os.memfd_create("berth-env", 0)  # inherited by bubblewrap, which reads and closes it
    os.write(fd, b"".join(o.encode() + b"\0" for o in options))
    os.lseek(fd, 0, os.SEEK_SET)
    return fd


def exec_app(spec: dict, own_session: bool) -> None:
    try:
        staged = become_app(spec, own_session)
        argv = spec["argv"]
        if spec.get("direct"):  # a VPS container's own init (it makes its namespaces itself)
            os.execve(argv[0], argv, spec["env"])  # noqa: S606 - fixed argv
        if spec.get("runtime") == "crun":
            config = f"/proc/self/fd/{crun_config_fd(spec, staged)}"
            argv = [config if arg == "@config" else arg for arg in argv]
        elif spec.get("runtime") == "direct":
            os.execve(argv[0], argv, spec["env"])  # noqa: S606 - the platform's fixed argv
        else:
            argv = [argv[0], "--args", str(env_options(spec["env"])), *argv[1:]]
        os.execve(argv[0], argv, BWRAP_ENV)  # noqa: S606 - fixed argv
    except BaseException as exc:  # the log is fd 2 by now, or still the caller's stderr
        os.write(2, f"[berth] could not start the process: {exc}\n".encode())
        os._exit(127)


def sandbox_child(spec: dict, up: int, down: int, own_session: bool) -> None:
    try:
        if spec.get("network"):
            enter_network(spec["network"], up, down)
        else:
            os.write(up, b"C")
    except BaseException as exc:
        message = str(exc) if isinstance(exc, SetupFailed) else f"{type(exc).__name__}: {exc}"
        os.write(up, b"E" + message.encode())
        os._exit(126)
    exec_app(spec, own_session)


def start_sandboxed(spec: dict, own_session: bool) -> tuple[int, int | None]:
    """Fork the process and, with a network in the spec, its namespace and pasta.

    Returns (pid, pasta pid) once the process is about to exec its command; raises
    SetupFailed (after killing what it started) when isolation cannot be set up.
    """
    up_r, up_w = os.pipe()
    down_r, down_w = os.pipe()
    child = os.fork()
    if child == 0:
        os.close(up_r)
        os.close(down_w)
        sandbox_child(spec, up_w, down_r, own_session)
    os.close(up_w)
    os.close(down_r)
    pasta = None
    try:
        if spec.get("network"):
            expect(up_r, b"U")
            pasta = start_pasta(spec["network"], child)
            os.write(down_w, b"P")
        expect(up_r, b"C")
    except BaseException:
        try:
            os.kill(child, signal.SIGKILL)
        except ProcessLookupError:
            pass
        os.waitpid(child, 0)
        stop_pasta(pasta)
        raise
    finally:
        os.close(up_r)
        os.close(down_w)
    return child, pasta


def wait_status(pid: int) -> int:
    while True:
        try:
            return os.waitpid(pid, 0)[1]
        except ChildProcessError:
            return 0
        except InterruptedError:
            continue


def write_atomic(path: str, data: dict) -> None:
    tmp = f"{path}.{os.getpid()}.tmp"
    with open(tmp, "w") as f:
        json.dump(data, f)
    os.replace(tmp, path)


def oom_killed(spec: dict) -> bool:
    for procs in spec.get("cgroup_procs", []):
        directory = os.path.dirname(procs)
        for name in ("memory.oom_control", "memory.events"):
            try:
                with open(os.path.join(directory, name)) as f:
                    for line in f:
                        key, _, value = line.partition(" ")
                        if key == "oom_kill" and int(value) > 0:
                            return True
            except (OSError, ValueError):
                continue
    return False


def remove_cgroups(spec: dict) -> None:
    for procs in spec.get("cgroup_procs", []):
        directory = os.path.dirname(procs)
        for _ in range(50):
            try:
                os.rmdir(directory)
                break
            except FileNotFoundError:
                break
            except OSError:
                time.sleep(0.1)  # the last processes of the group are still exiting


def monitor(spec: dict, report_fd: int) -> None:
    """The monitor: parent of the app, reaps it, records how it ended."""
    os.setsid()
    for sig in (signal.SIGHUP, signal.SIGINT, signal.SIGPIPE, signal.SIGTERM):
        signal.signal(sig, signal.SIG_IGN)
    null = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):  # let go of the caller's pipes, or it would wait for us
        os.dup2(null, fd)
    try:
        child, pasta = start_sandboxed(spec, own_session=True)
    except SetupFailed as exc:
        os.write(report_fd, json.dumps({"error": str(exc), "detail": exc.detail}).encode())
        os.close(report_fd)
        remove_cgroups(spec)
        os._exit(0)
    try:
        started = proc_start_time(child)
    except OSError:
        started = 0
    os.write(
        report_fd,
        json.dumps({"pid": child, "monitor_pid": os.getpid(), "start_time": started}).encode(),
    )
    os.close(report_fd)
    status = wait_status(child)
    stop_pasta(pasta)
    result = {"exited_at": time.time()}
    if os.WIFSIGNALED(status):
        result["signal"] = os.WTERMSIG(status)
        result["exit_code"] = 128 + os.WTERMSIG(status)
    else:
        result["exit_code"] = os.WEXITSTATUS(status)
    if oom_killed(spec):
        result["oom_killed"] = True
    exit_file = spec.get("exit_file")
    if exit_file:
        write_atomic(exit_file, result)
    remove_cgroups(spec)
    os._exit(0)


def run_foreground(spec: dict) -> None:
    """A build step: start it, wait for it, exit with its status (as a shell would).

    It dies with its caller (the deploy worker), and the step and pasta die with it.
    """
    caller = os.getppid()
    libc().prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != caller:  # the caller died before the line above
        sys.exit(1)
    try:
        child, pasta = start_sandboxed(spec, own_session=False)
    except SetupFailed as exc:
        with open(spec["log"], "a") as log:
            log.write(f"[berth] the sandbox could not be set up, nothing was run: {exc}\n")
        sys.stderr.write(f"sandbox setup failed: {exc} {exc.detail}\n")  # the worker's log
        sys.exit(126)
    status = wait_status(child)
    stop_pasta(pasta)
    remove_cgroups(spec)
    if os.WIFSIGNALED(status):
        sys.exit(128 + os.WTERMSIG(status))
    sys.exit(os.WEXITSTATUS(status))


def main() -> None:
    spec = json.loads(sys.stdin.buffer.read())
    if spec.get("mode") == "exec":
        run_foreground(spec)
        return
    read_fd, write_fd = os.pipe()
    if os.fork() == 0:
        os.close(read_fd)
        try:
            monitor(spec, write_fd)
        finally:
            os._exit(1)
    os.close(write_fd)
    chunks = []
    while chunk := os.read(read_fd, 4096):
        chunks.append(chunk)
    report = b"".join(chunks)
    if not report:
        sys.stderr.write("monitor failed before starting the process\n")
        sys.exit(1)
    sys.stdout.write(report.decode())
    sys.stdout.flush()


if __name__ == "__main__":
    main()
