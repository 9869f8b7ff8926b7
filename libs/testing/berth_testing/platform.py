"""The platform as real processes (Traefik, gateway, services, workers, mail sink), for
end-to-end tests and benchmarks. Same commands as the Procfile, on ports chosen per run;
each service's processes get that service's own credentials on top of the shared env."""

import email
import os
import shutil
import sys
import time
from email.message import Message
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import yaml

from berth_testing.processes import ManagedProcess, http_ok

# how long a web process or worker may take to come up; a machine shared by several runs can
# need more (BERTH_TEST_START_TIMEOUT seconds)
START_TIMEOUT = float(os.environ.get("BERTH_TEST_START_TIMEOUT", "40"))

BIN = Path(sys.executable).parent


def second_node_env(name: str, data_dir: Path) -> dict[str, str]:
    """Settings of a second deploy node on this machine: its own data directory, uid range,
    port pools (apps', VPSes' SSH) and queue, and more memory than the first offers (new apps
    and VPSes are placed on it)."""
    return {
        "DEPLOY_NODE_NAME": name,
        "DEPLOY_DATA_DIR": str(data_dir),
        "DEPLOY_UID_BASE": "20000000",
        "DEPLOY_PORT_MIN": "24000",
        "DEPLOY_PORT_MAX": "24999",
        "DEPLOY_VPS_PORT_MIN": "23000",
        "DEPLOY_VPS_PORT_MAX": "23999",
        "DEPLOY_NODE_MEMORY_MB": "10000000",
    }


def uvicorn_argv(service: str, port: int | str) -> list[str]:
    """A service's web app on 127.0.0.1:`port`, one process."""
    app = f"berth_{service}.main:create_app"
    listen = ["--host", "127.0.0.1", "--port", str(port), "--no-access-log"]
    return [str(BIN / "uvicorn"), app, "--factory", *listen]


class Platform:
    def __init__(
        self,
        root: Path,
        env: dict[str, str],
        ports: dict[str, int],
        work: Path,
        credentials: dict[str, dict[str, str]] | None = None,
    ):
        self.root = root
        self.env = {**env, "PYTHONUNBUFFERED": "1"}
        #: per service, what replaces the shared env's values for its processes (DATABASE_URL
        #: of its runtime role, ...); `env` keeps the run's own URLs for tests to inspect with
        self.credentials = credentials or {}
        self.ports = ports
        self.work = work
        self.logs = work / "logs"
        self.mail_dir = work / "mail"
        self.dynamic_dir = Path(env.get("TRAEFIK_DYNAMIC_DIR") or work / "traefik" / "dynamic")
        self.processes: dict[str, ManagedProcess] = {}
        #: how long a process may take to answer (a loaded machine imports slowly)
        self.ready_timeout = START_TIMEOUT

    @property
    def public_url(self) -> str:
        """The platform as browsers reach it: BERTH_PUBLIC_URL, whose host Traefik's platform
        routers match (any other host gets no platform page)."""
        return self.env["BERTH_PUBLIC_URL"].rstrip("/")

    @property
    def platform_host(self) -> str:
        return urlsplit(self.public_url).hostname or ""

    def platform_rule(self, rule: str) -> str:
        """A Traefik rule for an extra route of a test or bench, on the platform host only,
        as the routers in deploy/traefik/dynamic are."""
        return f"Host(`{self.platform_host}`) && ({rule})"

    def url(self, service: str) -> str:
        return f"http://127.0.0.1:{self.ports[service]}"

    def env_for(self, service: str) -> dict[str, str]:
        """The environment of one service's processes (web, worker, CLI, supervisor)."""
        return {**self.env, **self.credentials.get(service, {})}

    def _start(
        self,
        name: str,
        cmd: list[str],
        ready_url: str | None,
        timeout: float | None = None,
        env: dict[str, str] | None = None,
    ) -> ManagedProcess:
        service = name.split("-")[0]
        proc = ManagedProcess(
            name,
            cmd,
            env={**self.env_for(service), **(env or {})},
            log_dir=self.logs,
            cwd=self.root,
        ).start()
        self.processes[name] = proc
        if ready_url:
            proc.wait_ready(http_ok(ready_url), timeout=timeout or self.ready_timeout)
        return proc

    def start_webs(self, services: list[str]) -> None:
        """Several web apps at once (each imports for seconds), then wait for each."""
        started = [self.start_web(service, wait=False) for service in services]
        for service, proc in zip(services, started, strict=True):
            health = f"http://127.0.0.1:{self.ports[service]}/health"
            proc.wait_ready(http_ok(health), timeout=self.ready_timeout)

    def start_web(self, service: str, wait: bool = True) -> ManagedProcess:
        port = self.ports[service]
        return self._start(
            service,
            uvicorn_argv(service, port),
            f"http://127.0.0.1:{port}/health" if wait else None,
        )

    def start_worker(self, service: str, concurrency: int = 1) -> ManagedProcess:
        proc = self._start(
            f"{service}-worker",
            [
                str(BIN / "celery"),
                "-A",
                f"berth_{service}.worker",
                "worker",
                "-Q",
                service,
                "--concurrency",
                str(concurrency),
                "-n",
                f"{service}-{time.monotonic_ns()}@%h",
                "--without-mingle",
                "--without-gossip",
            ],
            None,
        )
        proc.wait_ready(lambda: b" ready." in proc.output(), timeout=self.ready_timeout)
        return proc

    def start_deploy_node(self, label: str, env: dict[str, str]) -> list[ManagedProcess]:
        """Another deploy node's worker (on its own queue `deploy.node.<name>` only, as on a
        second host) and supervisor; `env` holds what differs (DEPLOY_NODE_NAME, its data
        directory, uid range, port pool). With DEPLOY_NODE_WEB_URL in `env`, the node's own
        deploy web process too, on that URL's port (it serves its VPSes' consoles)."""
        node = env["DEPLOY_NODE_NAME"]
        started = []
        if env.get("DEPLOY_NODE_WEB_URL"):
            port = str(urlsplit(env["DEPLOY_NODE_WEB_URL"]).port)
            started.append(
                self._start(
                    f"deploy-{label}-web",
                    uvicorn_argv("deploy", port),
                    f"http://127.0.0.1:{port}/health",
                    env=env,
                )
            )
        worker = self._start(
            f"deploy-{label}-worker",
            [
                str(BIN / "celery"), "-A", "berth_deploy.worker", "worker",
                "-Q", f"deploy.node.{node}", "--concurrency", "1", "-n", f"{node}@%h",
                "--without-mingle", "--without-gossip",
            ],
            None,
            env=env,
        )  # fmt: skip
        supervisor = self._start(
            f"deploy-{label}-supervisor",
            [sys.executable, "-m", "berth_deploy.supervisor"],
            None,
            env=env,
        )
        worker.wait_ready(lambda: b" ready." in worker.output(), self.ready_timeout)
        supervisor.wait_ready(
            lambda: b"deploy supervisor on node" in supervisor.output(),
            self.ready_timeout,
        )
        return [*started, worker, supervisor]

    def start_mail(self) -> ManagedProcess:
        self.mail_dir.mkdir(parents=True, exist_ok=True)
        proc = self._start(
            "mail",
            [sys.executable, "-m", "berth_devrun.mailsink"],
            None,
            env={"MAILSINK_DIR": str(self.mail_dir), "SMTP_PORT": str(self.ports["smtp"])},
        )

        def listening() -> bool:
            import socket

            with socket.create_connection(("127.0.0.1", self.ports["smtp"]), timeout=0.5):
                return True

        proc.wait_ready(listening, timeout=self.ready_timeout)
        return proc

    def start_tickets_inbound(self) -> ManagedProcess:
        """Tickets' SMTP receiver of replies by email (the Procfile's `tickets-inbound`)."""
        port = self.ports["tickets_inbound"]
        proc = self._start(
            "tickets-inbound",
            [sys.executable, "-m", "berth_tickets.inbound.server"],
            None,
            env={"TICKETS_INBOUND_PORT": str(port)},
        )

        def listening() -> bool:
            import socket

            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return True

        proc.wait_ready(listening, timeout=30)
        return proc

    def render_traefik(self, extra_dynamic: dict[str, dict] | None = None) -> Path:
        static = yaml.safe_load((self.root / "deploy/traefik/traefik.yml").read_text())
        static["entryPoints"]["web"]["address"] = f"127.0.0.1:{self.ports['traefik']}"
        static["entryPoints"]["traefik"]["address"] = f"127.0.0.1:{self.ports['traefik_api']}"
        static["providers"]["file"]["directory"] = str(self.dynamic_dir)
        # app routes come from this run's deploy web process (Traefik's HTTP provider)
        if "deploy" in self.ports:
            endpoint = f"http://127.0.0.1:{self.ports['deploy']}/internal/traefik/routes"
            static["providers"]["http"]["endpoint"] = endpoint
        else:
            static["providers"].pop("http", None)
        static.pop("accessLog", None)  # the bench measures routing, not log writing
        self.dynamic_dir.mkdir(parents=True, exist_ok=True)
        for src in (self.root / "deploy/traefik/dynamic").glob("*.yml"):
            shutil.copy(src, self.dynamic_dir / src.name)
        for name, content in (extra_dynamic or {}).items():
            (self.dynamic_dir / name).write_text(yaml.safe_dump(content))
        path = self.work / "traefik" / "traefik.yml"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(yaml.safe_dump(static))
        return path

    def start_traefik(self, extra_dynamic: dict[str, dict] | None = None) -> ManagedProcess:
        config = self.render_traefik(extra_dynamic)
        proc = self._start(
            "traefik",
            [str(BIN / "traefik"), f"--configFile={config}"],
            f"http://127.0.0.1:{self.ports['traefik_api']}/ping",
        )
        # routes come from the file provider a moment after ping answers
        proc.wait_ready(
            lambda: (
                httpx.get(f"{self.public_url}/.well-known/jwks.json", timeout=1).status_code == 200
            ),
            timeout=self.ready_timeout,
        )
        return proc

    def stop(self) -> None:
        for proc in reversed(list(self.processes.values())):
            proc.stop()
        self.processes.clear()

    def mails(self, to: str | None = None) -> list[Message]:
        found = []
        for path in sorted(self.mail_dir.glob("*.eml")):
            msg = email.message_from_bytes(path.read_bytes())
            if to is None or to.lower() in msg.get("X-Envelope-To", "").lower():
                found.append(msg)
        return found

    def wait_for_mail(self, to: str, count: int = 1, timeout: float = 30.0) -> list[Message]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = self.mails(to)
            if len(found) >= count:
                return found
            time.sleep(0.1)
        raise TimeoutError(f"{count} mail(s) to {to} not received; got {len(self.mails(to))}")


def mail_text(msg: Message) -> str:
    if msg.is_multipart():
        for part in msg.walk():
            if part.get_content_type() == "text/plain":
                return part.get_payload(decode=True).decode()
    return msg.get_payload(decode=True).decode()
