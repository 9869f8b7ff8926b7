"""`make run`: database, broker, mail, secrets, migrations, then the Procfile under honcho."""

import asyncio
import contextlib
import fcntl
import logging
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

from honcho.environ import parse_procfile
from honcho.printer import Printer

from berth_common.dbroles import provision

from . import prefork
from .environment import Resolved, describe_broker, procfile_service, redact_url, resolve
from .errors import RunnerError
from .layout import Layout
from .manager import ThreadedManager
from .postgres import EmbeddedPostgres, port_is_free
from .traefik import DynamicConfigWatcher, sync

log = logging.getLogger("berth_devrun")

STOPPED_BY_SIGNAL = (130, 143)  # honcho's return codes for SIGINT / SIGTERM


@contextlib.contextmanager
def single_runner(lock_file: Path) -> Iterator[None]:
    """One runner per checkout: two would fight over ports, var/pgdata and the beat schedule.

    A POSIX record lock, not flock(): honcho's forked helpers must not inherit it, so a
    runner killed with SIGKILL frees it at once."""
    handle = lock_file.open("a+")
    try:
        fcntl.lockf(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        handle.seek(0)
        holder = handle.read().strip() or "?"
        handle.close()
        raise RunnerError(
            f"another berth_devrun (pid {holder}) is running in this checkout"
        ) from None
    handle.seek(0)
    handle.truncate()
    handle.write(f"{os.getpid()}\n")
    handle.flush()
    try:
        yield
    finally:
        handle.close()


def _exit_on_signal(signum: int, _frame: object) -> None:
    raise SystemExit(128 + signum)  # unwinds through the finally blocks that stop PostgreSQL


class SafePrinter(Printer):
    """honcho's printer, surviving a closed stdout (`make run | tee` after a Ctrl-C)."""

    def write(self, message: object) -> None:
        try:
            super().write(message)
        except (BrokenPipeError, ValueError):
            pass


def stop_process_groups(pgids: list[int], grace: float = 5.0) -> None:
    """What honcho does when its loop ends normally, for when it did not: TERM, wait, KILL."""
    alive = list(pgids)
    for sig in (signal.SIGTERM, signal.SIGKILL):
        deadline = time.monotonic() + grace
        for pgid in alive:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(pgid, sig)
        while alive and time.monotonic() < deadline:
            alive = [pgid for pgid in alive if _group_alive(pgid)]
            time.sleep(0.1)
        if not alive:
            return


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


def is_release(name: str) -> bool:
    """Heroku's release phase: `release` / `<svc>-release` entries run once, before the rest."""
    return name == "release" or name.endswith("-release")


def select_processes(procfile: dict[str, str], wanted: list[str], resolved: Resolved) -> list[str]:
    unknown = [name for name in wanted if name not in procfile or is_release(name)]
    if unknown:
        have = ", ".join(procfile)
        raise RunnerError(f"not in the Procfile: {', '.join(unknown)} (have: {have})")
    if wanted:
        return wanted
    # with an external SMTP server there is nothing for the local sink to catch
    return [
        name for name in procfile if not is_release(name) and (name != "mail" or resolved.mail_sink)
    ]


def ports_of(procfile: dict[str, str], names: list[str], resolved: Resolved) -> dict[int, str]:
    ports: dict[int, str] = {}
    for name in names:
        command = procfile[name]
        if name == "traefik":
            ports.update({8080: name, 8081: name})
        elif name == "mail":
            ports[int(resolved.values["SMTP_PORT"])] = name
        for match in re.finditer(r"--port[ =](\d+)", command):
            ports[int(match.group(1))] = name
    return ports


def release(
    layout: Layout, procfile: dict[str, str], env: dict[str, str], resolved: Resolved
) -> None:
    """Migrations for every services/*/alembic.ini (found, not listed), each as its service's
    owner role, then the release entries of the Procfile (e.g. auth's bootstrap of its panel
    client and first admin), each as its service's runtime role."""
    for ini in sorted(layout.root.glob("services/*/alembic.ini")):
        relative = layout.show(ini)
        log.info("release: alembic -c %s upgrade head", relative)
        result = subprocess.run(  # noqa: S603 - our own interpreter and alembic
            [sys.executable, "-m", "alembic", "-c", relative, "upgrade", "head"],
            cwd=layout.root,
            env={**env, **resolved.database_env(ini.parent.name, migration=True)},
            check=False,
        )
        if result.returncode != 0:
            raise RunnerError(f"migrations of {relative} failed (exit {result.returncode})")
    for name, command in procfile.items():
        if not is_release(name):
            continue
        log.info("release: %s: %s", name, command)
        # a Procfile line is a shell command line, as honcho runs the others
        release_env = {**env, **resolved.database_env(procfile_service(name))}
        result = subprocess.run(command, shell=True, cwd=layout.root, env=release_env, check=False)  # noqa: S602
        if result.returncode != 0:
            raise RunnerError(f"release command {name} failed (exit {result.returncode})")


def banner(layout: Layout, resolved: Resolved, names: list[str], admin_password: str | None) -> str:
    values = resolved.values
    if resolved.database == "embedded" and resolved.database_admin_url:
        database = redact_url(resolved.database_admin_url)
        database += f"  (embedded, data in {layout.show(layout.pgdata)}; passwords required)"
    else:
        database = redact_url(values["DATABASE_URL"])
    broker = redact_url(values["BROKER_URL"])
    if resolved.broker == "filesystem":
        broker += f"  (fallback in {layout.show(values['BROKER_FILESYSTEM_DIR'])}: see warning)"
    mail = f"{values['SMTP_HOST']}:{values['SMTP_PORT']}"
    if resolved.mail_sink:
        mail += f"  (sink, one .eml per message in {layout.show(values['MAILSINK_DIR'])}/)"
    admin = values["AUTH_BOOTSTRAP_ADMIN_EMAIL"]
    kept_in = layout.show(layout.secrets_file)
    if admin_password:
        admin += f"  password {admin_password}  (shown once; kept in {kept_in})"
    else:
        admin += f"  (password in {kept_in} unless set in the environment)"
    rows = [
        ("open", values["BERTH_PUBLIC_URL"]),
        ("gateway", values["GATEWAY_URL"]),
        ("auth", values["AUTH_URL"]),
        ("traefik ping", "http://127.0.0.1:8081/ping"),
        ("database", database),
        ("broker", broker),
        ("mail", mail),
        ("admin", admin),
        ("processes", ", ".join(names)),
        ("env", "uv run python -m berth_devrun env [--show-secrets]"),
    ]
    width = max(len(label) for label, _ in rows)
    lines = [f"  {label:<{width}}  {value}" for label, value in rows]
    return "\n".join(["", "Berth dev platform", *lines, ""])


def run(layout: Layout, wanted: list[str], *, run_release: bool = True) -> int:
    layout.ensure()
    if not layout.procfile.is_file():
        raise RunnerError(f"no Procfile at {layout.procfile}")
    procfile = dict(parse_procfile(layout.procfile.read_text()).processes)
    previous = {sig: signal.signal(sig, _exit_on_signal) for sig in (signal.SIGTERM, signal.SIGHUP)}
    try:
        with single_runner(layout.lock_file):
            pg = EmbeddedPostgres(layout)
            try:
                return _run_locked(layout, procfile, wanted, pg, run_release)
            finally:
                pg.stop()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _run_locked(
    layout: Layout,
    procfile: dict[str, str],
    wanted: list[str],
    pg: EmbeddedPostgres,
    run_release: bool,
) -> int:
    """Resolve the environment, bring up the database, run the release phase when asked, then
    run the chosen Procfile entries until they stop."""
    resolved = resolve(layout, pg=pg)
    _prepare_database(layout, resolved, pg)
    describe_broker(resolved, layout)
    names = select_processes(procfile, wanted, resolved)
    for port, name in sorted(ports_of(procfile, names, resolved).items()):
        if not port_is_free(port):
            log.warning("port %s (for %s) is already in use: that process will fail", port, name)

    env = resolved.process_env(layout)
    if run_release:
        release(layout, procfile, env, resolved)
    watcher = _watch_traefik_config(layout) if "traefik" in names else None
    password = None
    if "AUTH_BOOTSTRAP_ADMIN_PASSWORD" in resolved.generated_secrets and not os.environ.get(
        "AUTH_BOOTSTRAP_ADMIN_PASSWORD"
    ):
        password = resolved.values["AUTH_BOOTSTRAP_ADMIN_PASSWORD"]
    print(banner(layout, resolved, names, password), flush=True)
    try:
        return _run_processes(layout, procfile, names, env, resolved)
    finally:
        if watcher is not None:
            watcher.stop()


def _prepare_database(layout: Layout, resolved: Resolved, pg: EmbeddedPostgres) -> None:
    """Start the embedded server and give each service its roles, or say whose URL is used."""
    if resolved.database == "embedded" and resolved.superuser_password:
        resolved.database_admin_url = pg.start(resolved.superuser_password)
        roles = list(resolved.database_roles.values())
        asyncio.run(provision(resolved.database_admin_url, roles))
        log.info(
            "database: embedded PostgreSQL on 127.0.0.1:%s, data in %s; each service connects "
            "as its own role (%s), its migrations as <role>_owner",
            pg.port,
            layout.show(layout.pgdata),
            ", ".join(r.runtime for r in roles),
        )
    else:
        log.warning(
            "database: DATABASE_URL from the environment: every process connects with it "
            "(unset it for the embedded server with a role per service)"
        )


def _watch_traefik_config(layout: Layout) -> DynamicConfigWatcher:
    """Copy Traefik's dynamic config into var/ and keep copying it while it changes."""
    changed = sync(layout)
    log.info(
        "traefik: deploy/traefik/dynamic copied to %s (%s)",
        layout.show(layout.traefik_dynamic),
        ", ".join(changed) or "unchanged",
    )
    watcher = DynamicConfigWatcher(layout)
    watcher.start()
    return watcher


def _run_processes(
    layout: Layout,
    procfile: dict[str, str],
    names: list[str],
    env: dict[str, str],
    resolved: Resolved,
) -> int:
    """Run the processes under honcho until they stop; 0 when stopped by a signal."""
    manager = ThreadedManager(SafePrinter(sys.stdout, colour=True, prefix=True))
    if os.environ.get("BERTH_DEVRUN_PREFORK", "1") != "0":
        # Python entries start as forks of this interpreter, the libraries the services use
        # preloaded (prefork.py); honcho has no public hook for its Process class
        started = time.monotonic()
        count = prefork.preload(prefork.discover(env, layout.root, layout.var / "prefork-modules"))
        log.info("prefork: %d modules preloaded in %.1f s", count, time.monotonic() - started)
        manager._process_ctor = prefork.PreforkProcess
    for name in names:
        process_env = {
            **env,
            **resolved.database_env(procfile_service(name)),
            "HONCHO_PROCESS_NAME": name,
        }
        manager.add_process(name, procfile[name], env=process_env, cwd=str(layout.root))
    # honcho handles SIGINT/SIGTERM itself inside loop(); a closed terminal stops it the same way
    signal.signal(signal.SIGHUP, lambda *_: manager.terminate())
    try:
        manager.loop()
    except BaseException:
        stop_process_groups([p["pid"] for p in manager._processes.values() if "pid" in p])
        raise
    returncode = manager.returncode or 0
    return 0 if returncode in STOPPED_BY_SIGNAL else returncode
