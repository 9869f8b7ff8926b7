"""Helpers of the deploy end-to-end tests: the node supervisor next to the platform's deploy
web and worker, people with tokens, apps from local git repositories, waiting on operations,
reaching apps through Traefik by their host name."""

import asyncio
import os
import subprocess
import sys
import threading
import uuid
from dataclasses import dataclass
from pathlib import Path

import httpx
from deploy_testkit import wait_for
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine
from support import PASSWORD

from berth_testing.oauth import bearer, password_login
from berth_testing.platform import START_TIMEOUT, Platform
from berth_testing.processes import ManagedProcess

API = "/api/deploy/v1"
DONE = ("succeeded", "failed", "cancelled", "superseded")
APPS_DOMAIN = "apps.localhost"


@dataclass
class Person:
    email: str
    id: str
    headers: dict[str, str]


def processes_with(marker: str) -> list[int]:
    """Host pids whose command line contains `marker` (build steps are sandboxed, but their
    processes are visible from the host)."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                cmdline = Path(f"/proc/{entry}/cmdline").read_bytes().replace(b"\0", b" ")
            except OSError:
                continue
            if marker.encode() in cmdline:
                found.append(int(entry))
    return found


def sign_in(edge: httpx.Client, email: str) -> Person:
    r = password_login(edge, email, PASSWORD)
    assert r.status_code == 200, r.text
    headers = bearer(r.json()["access_token"])
    me = edge.get("/api/auth/v1/me", headers=headers)
    assert me.status_code == 200, me.text
    return Person(email=email, id=me.json()["id"], headers=headers)


def start_supervisor(platform: Platform, env: dict[str, str] | None = None) -> ManagedProcess:
    """The deploy node supervisor (a Procfile process type the platform fixture does not know);
    `env`: settings of its own (a shorter node down timeout)."""
    name = "deploy-supervisor"
    proc = ManagedProcess(
        name,
        [sys.executable, "-m", "berth_deploy.supervisor"],
        env={**platform.env_for("deploy"), **(env or {})},
        log_dir=platform.logs,
        cwd=platform.root,
    ).start()
    platform.processes[name] = proc
    proc.wait_ready(lambda: b"deploy supervisor on node" in proc.output(), max(30, START_TIMEOUT))
    return proc


class Hammer(threading.Thread):
    """GET / through Traefik in a loop, recording every answer (or failure)."""

    def __init__(self, platform, slug: str):
        super().__init__(daemon=True)
        self.platform, self.slug = platform, slug
        self.answers: list[tuple[int, str]] = []
        self.stopped = threading.Event()

    def run(self) -> None:
        with httpx.Client(timeout=10) as client:
            while not self.stopped.is_set():
                try:
                    r = client.get(
                        self.platform.public_url + "/",
                        headers={"Host": f"{self.slug}.{APPS_DOMAIN}"},
                    )
                    self.answers.append((r.status_code, r.text))
                except httpx.HTTPError as exc:
                    self.answers.append((0, type(exc).__name__))

    def bodies(self) -> list[str]:
        return [body for _, body in self.answers]


def ensure_supervisor(platform: Platform) -> ManagedProcess:
    proc = platform.processes.get("deploy-supervisor")
    if proc is None or not proc.alive():
        proc = start_supervisor(platform)
    return proc


def kill_apps(platform: Platform) -> None:
    """Apps outlive the deploy worker by design: stop this module's apps when it ends (the
    supervisor first, or it would restart them)."""
    supervisor = platform.processes.pop("deploy-supervisor", None)
    if supervisor is not None:
        supervisor.stop()
    subprocess.run(
        [sys.executable, "-m", "berth_deploy.cli", "drain", "--grace", "1"],
        env=platform.env_for("deploy"),
        cwd=platform.root,
        check=True,
    )


def create_app(edge: httpx.Client, person: Person, repo_url: str | None, **fields) -> dict:
    body = {
        "slug": fields.pop("slug", None) or f"app-{uuid.uuid4().hex[:8]}",
        "template": fields.pop("template", "python-web"),
        **fields,
    }
    if repo_url is not None:
        body["repo_url"] = repo_url
    r = edge.post(f"{API}/apps", json=body, headers=person.headers)
    assert r.status_code == 201, r.text
    return r.json()


def request(edge: httpx.Client, person: Person, app_id: str, action: str, **body) -> dict:
    path = {"deploy": "deployments"}.get(action, action)
    r = edge.post(f"{API}/apps/{app_id}/{path}", json=body or None, headers=person.headers)
    assert r.status_code == 202, r.text
    return r.json()


def operation(edge: httpx.Client, person: Person, app_id: str, op_id: str) -> dict:
    r = edge.get(f"{API}/apps/{app_id}/operations/{op_id}", headers=person.headers)
    assert r.status_code == 200, r.text
    return r.json()


def wait_operation(
    edge: httpx.Client, person: Person, app_id: str, op_id: str, timeout: float = 120
) -> dict:
    return wait_for(
        lambda: (op := operation(edge, person, app_id, op_id))["status"] in DONE and op,
        timeout,
        f"operation {op_id} to end",
    )


def get_app(edge: httpx.Client, person: Person, app_id: str) -> dict:
    r = edge.get(f"{API}/apps/{app_id}", headers=person.headers)
    assert r.status_code == 200, r.text
    return r.json()


def logs(
    edge: httpx.Client, person: Person, app_id: str, kind: str = "build", **params
) -> list[str]:
    r = edge.get(
        f"{API}/apps/{app_id}/logs",
        params={"kind": kind, "limit_bytes": 1024 * 1024, **params},
        headers=person.headers,
    )
    assert r.status_code == 200, r.text
    return [line["text"] for line in r.json()["lines"]]


def via_traefik(platform: Platform, slug: str, path: str = "/", **kwargs) -> httpx.Response:
    return httpx.get(
        platform.public_url + path,
        headers={"Host": f"{slug}.{APPS_DOMAIN}"},
        timeout=kwargs.pop("timeout", 10),
        **kwargs,
    )


def deployed(edge, platform, person, repo_url: str, **fields) -> dict:
    """An app created and deployed, answering through Traefik."""
    app = create_app(edge, person, repo_url, **fields)
    op = request(edge, person, app["id"], "deploy")
    done = wait_operation(edge, person, app["id"], op["id"])
    assert done["status"] == "succeeded", (done, logs(edge, person, app["id"]))
    return get_app(edge, person, app["id"])


async def _sql(database_url: str, query: str, **params) -> list[tuple]:
    engine = create_async_engine(database_url)
    try:
        async with engine.connect() as conn:
            return [tuple(r) for r in await conn.execute(text(query), params)]
    finally:
        await engine.dispose()


def sql(platform: Platform, query: str, **params) -> list[tuple]:
    """Read the run's database directly (for what the API rightly does not show: pids)."""
    return asyncio.run(_sql(platform.env["DATABASE_URL"], query, **params))


def publish_event(platform: Platform, key: str, payload: dict) -> None:
    """An event on the platform's broker, as another service would publish it."""
    from berth_common.broker import AmqpPublisher
    from berth_common.messages import event_message

    async def send() -> None:
        publisher = AmqpPublisher(platform.env["BROKER_URL"])
        try:
            await publisher.publish(event_message(key, payload, source=key.split(".")[0]))
        finally:
            await publisher.close()

    asyncio.run(send())


class EventTap:
    """A private queue on the events exchange: what deploy publishes, as billing receives it."""

    def __init__(self, platform: Platform, pattern: str = "deploy.instance.*"):
        from kombu import Connection, Exchange, Queue

        self.conn = Connection(platform.env["BROKER_URL"])
        exchange = Exchange("berth.events", type="topic", durable=True)
        self.queue = Queue(
            f"deploy-tests-{uuid.uuid4().hex[:8]}",
            exchange,
            routing_key=pattern,
            exclusive=True,
            auto_delete=True,
        )
        self.simple = self.conn.SimpleQueue(self.queue)
        self.seen: list[dict] = []

    def drain(self) -> list[dict]:
        import json
        from queue import Empty

        while True:
            try:
                message = self.simple.get(block=True, timeout=0.2)
            except Empty:
                return self.seen
            body = json.loads(message.body)
            self.seen.append(body[1]["event"])
            message.ack()

    def of_app(self, app_id: str) -> list[tuple[str, dict]]:
        return [(e["key"], e["payload"]) for e in self.drain() if e["payload"]["app_id"] == app_id]

    def close(self) -> None:
        self.simple.close()
        self.conn.release()
