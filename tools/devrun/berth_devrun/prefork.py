"""Procfile entries as forks of one preloaded interpreter (`make run` only).

Every Python process of the platform imports the same libraries (FastAPI, SQLAlchemy,
pydantic, Celery, httpx, ...): about 60 MB of objects each, private to every one of some
thirty processes. Here the runner imports them once, freezes them out of the garbage
collector's reach (`gc.freeze()`, so a collection does not write to their pages), and starts
each Python entry of the Procfile (`uvicorn ...`, `celery ...`, `python -m ...`) as a fork of
that interpreter instead of `sh -c` + a fresh interpreter: the pages stay shared
copy-on-write, the way gunicorn's `preload_app` shares an app between its workers. Nothing of
a service is preloaded (its modules read their settings at import time, from their own
environment), only third-party libraries.

The fork is what honcho starts in place of its `sh -c` child (`Process._child_ctor`): a new
session like honcho's own children (honcho signals the process group), stdout and stderr to
the pipe honcho reads, the entry's environment, working directory and argv, signal handlers
and atexit hooks of the runner cleared. Entries that are not plain Python commands (Traefik,
anything with shell syntax) run under `sh -c` as before. Production (deploy/compose) starts
every process on its own; this is a memory measure of the one-machine default.
"""

import atexit
import gc
import hashlib
import importlib
import logging
import os
import runpy
import shlex
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import IO

from honcho.process import Popen

from .manager import ThreadedProcess

log = logging.getLogger("berth_devrun")

#: what the runner's Python entries start with, whatever the services import
ENTRY_MODULES = ("uvicorn.main", "celery.bin.celery", "flower.command", "runpy")
#: imported by a child looking at the services' imports: prints the modules it ended up with
DISCOVER = """
import importlib, pathlib, sys
for package in sorted(pathlib.Path("services").glob("*/berth_*/__init__.py")):
    for name in ("main", "worker", "tasks"):
        if (package.parent / f"{name}.py").exists():
            importlib.import_module(f"{package.parent.name}.{name}")
for name in sys.argv[1:]:
    importlib.import_module(name)
print("\\n".join(sorted(sys.modules)))
"""
SKIP = ("berth", "__main__", "_pytest", "pytest", "honcho")
SHELL_SYNTAX = set("|&;<>()$`\\\"'*?[#~")


def discover(env: dict[str, str], root: Path, cache: Path) -> list[str]:
    """The modules the services' web, worker and task modules import, found by a child that
    imports them with the platform's environment (no berth_* module is ever preloaded). The
    list is kept in `cache` for the lock file it was found with: a module missing from it is
    only not shared."""
    key = hashlib.sha256((root / "uv.lock").read_bytes()).hexdigest()
    if cache.exists():
        lines = cache.read_text().split()
        if lines and lines[0] == key:
            return lines[1:]
    modules = _discover(env, root)
    if modules is None:
        return list(ENTRY_MODULES)
    cache.write_text("\n".join([key, *modules]) + "\n")
    return modules


def _discover(env: dict[str, str], root: Path) -> list[str] | None:
    result = subprocess.run(  # noqa: S603 - this interpreter, a fixed script
        [sys.executable, "-c", DISCOVER, *ENTRY_MODULES],
        env=env,
        cwd=root,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if result.returncode != 0:
        log.warning("prefork: the services' imports were not found (%s)", result.stderr[-300:])
        return None
    return [m for m in result.stdout.split() if not m.startswith(SKIP)]


def preload(modules: list[str]) -> int:
    """Import `modules` here, then keep the collector off them; how many were imported."""
    done = 0
    for name in modules:
        try:
            importlib.import_module(name)
            done += 1
        except Exception as exc:  # a module that cannot load here is only not shared
            log.debug("prefork: %s not preloaded (%s)", name, exc)
    gc.collect()
    gc.freeze()
    return done


def entry_of(cmd: str) -> Callable[[list[str]], None] | None:
    """The in-process entry point of a plain Python Procfile command; None: run it in a shell."""
    if any(ch in SHELL_SYNTAX for ch in cmd) or "=" in cmd.split()[0]:
        return None
    argv = shlex.split(cmd)
    if argv[0] == "uvicorn":
        return _uvicorn
    if argv[0] == "celery":
        return _celery
    if argv[0] == "python" and len(argv) >= 3 and argv[1] == "-m":
        return _module
    return None


def _uvicorn(argv: list[str]) -> None:
    from uvicorn.main import main

    main.main(args=argv[1:], prog_name="uvicorn")


def _celery(argv: list[str]) -> None:
    from celery.bin.celery import main

    sys.argv = argv
    main()


def _module(argv: list[str]) -> None:
    sys.argv = argv[2:]
    runpy.run_module(argv[2], run_name="__main__", alter_sys=True)


class ForkedChild:
    """What honcho needs of its child (pid, stdout, wait, returncode), as a fork of this
    interpreter running `entry(argv)`."""

    def __init__(self, cmd: str, entry: Callable[[list[str]], None], env: dict, cwd: str | None):
        argv = shlex.split(cmd)
        read_end, write_end = os.pipe()
        sys.stdout.flush()
        sys.stderr.flush()
        pid = os.fork()
        if pid == 0:  # pragma: no cover - runs in the child, which never returns here
            os.close(read_end)
            _become(argv, entry, env, cwd, write_end)
        os.close(write_end)
        self.pid = pid
        self.stdout: IO[bytes] = os.fdopen(read_end, "rb")
        self.returncode: int | None = None

    def wait(self) -> int:
        if self.returncode is None:
            _, status = os.waitpid(self.pid, 0)
            self.returncode = os.waitstatus_to_exitcode(status)
        return self.returncode


def _become(argv, entry, env, cwd, output: int) -> None:
    code = 1
    try:
        os.setsid()
        for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGCHLD):
            signal.signal(signum, signal.SIG_DFL)
        devnull = os.open(os.devnull, os.O_RDONLY)
        os.dup2(devnull, 0)
        os.dup2(output, 1)
        os.dup2(output, 2)
        os.closerange(3, os.sysconf("SC_OPEN_MAX"))
        # the runner's streams may be anything (a test's capture): the child's are the pipe
        sys.stdin = open(0, closefd=False)
        sys.stdout = open(1, "w", buffering=1, closefd=False)
        sys.stderr = open(2, "w", buffering=1, closefd=False)
        atexit._clear()  # the runner's hooks (stopping PostgreSQL...) are not the child's
        logging.root.handlers.clear()
        if cwd:
            os.chdir(cwd)
        os.environ.clear()
        os.environ.update(env)
        sys.argv = list(argv)
        entry(argv)
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except BaseException:
        import traceback

        traceback.print_exc()
    finally:
        try:
            atexit._run_exitfuncs()
            sys.stdout.flush()
            sys.stderr.flush()
        finally:
            os._exit(code)


def _child(cmd: str, env: dict | None = None, cwd: str | None = None, **kwargs):
    entry = entry_of(cmd)
    if entry is None or kwargs:
        return Popen(cmd, env=env, cwd=cwd, **kwargs)
    return ForkedChild(cmd, entry, env if env is not None else dict(os.environ), cwd)


class PreforkProcess(ThreadedProcess):
    """A watched process whose child is a fork of this interpreter where the command allows."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._child_ctor = _child
