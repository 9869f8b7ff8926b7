"""The deploy benches' platform: Traefik, gateway, auth and deploy (web, worker, supervisor)
on real processes, an isolated broker vhost, and the bench admin's token; the apps the run
started are killed at the end (they outlive the deploy processes by design)."""

import asyncio
import os
import signal
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from berth_testing.bench import BENCH_ADMIN_EMAIL, BENCH_ADMIN_PASSWORD, bench_platform
from berth_testing.broker import isolated_vhost
from berth_testing.processes import ManagedProcess

ROOT = Path(__file__).resolve().parent.parent
API = "/api/deploy/v1"


@dataclass
class DeployBench:
    platform: Any
    edge: httpx.Client
    auth: dict[str, str]
    web: ManagedProcess
    worker: ManagedProcess
    supervisor: ManagedProcess


def until(check, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            result = check()
            if result:
                return result
        except (httpx.HTTPError, OSError):
            pass
        time.sleep(0.01)
    raise TimeoutError(what)


@contextmanager
def deploy_platform(
    extra: dict[str, str] | None = None, worker_concurrency: int = 2
) -> Iterator[DeployBench]:
    env = {
        "LOG_LEVEL": "INFO",  # the worker's "ready." line is INFO
        "DEPLOY_LOCAL_REPOS_DIR": tempfile.gettempdir(),  # repos are made under platform.work
        "DEPLOY_DRAIN_SECONDS": "0.5",
        # no billing runs here to set apps per person: one person makes every app measured
        "DEPLOY_APP_QUOTA_FALLBACK": "1000",
        **(extra or {}),
    }
    with (
        isolated_vhost("berth_bench") as broker_url,  # no other worker takes these tasks
        bench_platform(ROOT, env, broker_url) as platform,
    ):
        platform.env["DEPLOY_TRAEFIK_ENTRY_URL"] = f"http://127.0.0.1:{platform.ports['traefik']}"
        try:
            yield _start(platform, worker_concurrency)
        finally:
            platform.stop()
            kill_apps(platform.env["DATABASE_URL"])


def _start(platform, worker_concurrency: int) -> DeployBench:
    platform.start_web("auth")
    platform.start_web("gateway")
    web = platform.start_web("deploy")
    worker = platform.start_worker("deploy", concurrency=worker_concurrency)
    supervisor = ManagedProcess(
        "deploy-supervisor",
        [sys.executable, "-m", "berth_deploy.supervisor"],
        env=platform.env_for("deploy"),
        log_dir=platform.logs,
        cwd=ROOT,
    ).start()
    platform.processes["deploy-supervisor"] = supervisor
    platform.start_traefik()
    edge = httpx.Client(base_url=platform.public_url, timeout=30)
    token = edge.post(
        "/oauth/token",
        data={
            "grant_type": "password",
            "username": BENCH_ADMIN_EMAIL,
            "password": BENCH_ADMIN_PASSWORD,
            "client_id": "berth-panel",
        },
    ).json()["access_token"]
    auth = {"Authorization": f"Bearer {token}"}
    return DeployBench(platform, edge, auth, web, worker, supervisor)


def kill_apps(database_url: str) -> None:
    from sqlalchemy import text
    from sqlalchemy.ext.asyncio import create_async_engine

    async def pids() -> list[int]:
        engine = create_async_engine(database_url)
        async with engine.connect() as conn:
            rows = await conn.execute(
                text("SELECT pid FROM deploy.instances WHERE pid IS NOT NULL")
            )
            found = [r[0] for r in rows]
        await engine.dispose()
        return found

    for pid in asyncio.run(pids()):
        try:
            os.killpg(pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
