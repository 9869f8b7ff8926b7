"""Fixtures of the deploy service's in-process tests: the API app over ASGI, a real Traefik
watching a directory of this run, and the node context (the worker's and supervisor's code,
driven directly: operations run when a test says so)."""

import asyncio
import os
import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from fastapi import FastAPI

from berth_common.worker import WorkerRuntime
from berth_deploy.config import DeploySettings
from berth_deploy.instances.service import InstanceRef
from berth_deploy.models import SCHEMA, Base
from berth_deploy.node import build_node_context
from berth_deploy.operations.executor import NodeContext, run_next
from berth_deploy.operations.flows import FLOWS
from berth_deploy.supervisor.agent import Supervisor
from berth_testing.oauth import bearer, mint_access_token
from berth_testing.plugin import app_client, trust_keys
from berth_testing.processes import ManagedProcess, free_port, http_ok

__all__ = [
    "deploy_app",
    "deploy_http",
    "deploy_node",
    "deploy_settings",
    "deploy_traefik",
    "person",
]

API = "/api/deploy/v1"


@dataclass
class Traefik:
    url: str
    dynamic_dir: Path


@pytest.fixture(scope="session")
def deploy_traefik(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Traefik]:
    work = tmp_path_factory.mktemp("deploy-traefik")
    dynamic = work / "dynamic"
    dynamic.mkdir()
    web, ping = free_port(), free_port()
    static = {
        "entryPoints": {
            "web": {"address": f"127.0.0.1:{web}"},
            "ping": {"address": f"127.0.0.1:{ping}"},
        },
        "ping": {"entryPoint": "ping"},
        "log": {"level": "ERROR"},
        "providers": {
            "providersThrottleDuration": "100ms",
            "file": {"directory": str(dynamic), "watch": True},
        },
    }
    (work / "traefik.yml").write_text(yaml.safe_dump(static))
    proc = ManagedProcess(
        "deploy-traefik",
        [str(Path(sys.executable).parent / "traefik"), f"--configFile={work / 'traefik.yml'}"],
        env={"PATH": os.environ["PATH"]},
        log_dir=work,
    ).start()
    proc.wait_ready(http_ok(f"http://127.0.0.1:{ping}/ping"), timeout=30)
    yield Traefik(f"http://127.0.0.1:{web}", dynamic)
    proc.stop()


@pytest.fixture(scope="session")
def deploy_settings(
    berth_env: dict[str, str], deploy_traefik: Traefik, tmp_path_factory: pytest.TempPathFactory
) -> DeploySettings:
    data = tmp_path_factory.mktemp("deploy-data")
    return DeploySettings(
        DEPLOY_DATA_DIR=str(data),
        TRAEFIK_DYNAMIC_DIR=str(deploy_traefik.dynamic_dir),
        # this session's Traefik reads routes from files (one node); the HTTP provider that
        # spans nodes is proven end to end (tests/e2e/test_deploy_nodes.py)
        route_provider="file",
        DEPLOY_TRAEFIK_ENTRY_URL=deploy_traefik.url,
        local_repos_dir=tmp_path_factory.getbasetemp(),
        # no billing runs in these tests (nothing listens on the discard port): app quotas
        # fall back to DEPLOY_APP_QUOTA_FALLBACK unless a test gives the service a plan list
        BILLING_URL="http://127.0.0.1:9",
        port_min=23000,
        port_max=23999,
        lease_seconds=5,
        heartbeat_seconds=0.5,
        restart_backoff_seconds=0.2,
        crash_loop_threshold=3,
        crash_loop_window_seconds=60,
        drain_seconds=0.2,
        stop_grace_seconds=3,
    )


@pytest.fixture(scope="session")
async def deploy_app(deploy_settings: DeploySettings) -> FastAPI:
    from berth_deploy.main import create_app

    return create_app(deploy_settings)


@pytest.fixture(scope="session")
async def deploy_http(
    deploy_app: FastAPI, public_jwks: dict[str, Any]
) -> AsyncIterator[httpx.AsyncClient]:
    async with app_client(deploy_app) as client:
        trust_keys(deploy_app, public_jwks)
        yield client


@dataclass
class Person:
    id: uuid.UUID
    headers: dict[str, str]


@pytest.fixture(scope="session")
def person(signing_jwks: dict[str, Any]):
    """A signed-in person (a fresh id each call); roles=["admin"] makes an admin."""

    def make(roles: list[str] | None = None) -> Person:
        user_id = uuid.uuid4()
        token = mint_access_token(
            signing_jwks,
            issuer=os.environ["BERTH_PUBLIC_URL"],
            subject=str(user_id),
            roles=roles or ["user"],
        )
        return Person(user_id, bearer(token))

    return make


class Node:
    """The deploy worker's and supervisor's code on this node, driven by the tests."""

    def __init__(self, settings: DeploySettings):
        self.settings = settings
        self.worker = WorkerRuntime(settings, SCHEMA, Base.metadata)
        self.ctx: NodeContext = build_node_context(settings, self.worker.in_transaction)
        self.supervisor = Supervisor(settings, self.worker, self.ctx)
        self.owner = f"{settings.node_name}:tests:{uuid.uuid4().hex[:6]}"

    async def run_next(self, app_id: uuid.UUID) -> bool:
        """Run the app's next queued operation to its end; False when there was none."""
        return await run_next(self.ctx, app_id, self.owner, FLOWS)

    async def run_all(self, app_id: uuid.UUID) -> None:
        while await self.run_next(app_id):
            pass

    async def stop_everything(self) -> None:
        from sqlalchemy import select

        from berth_deploy.models import Instance

        async with self.worker.db.sessionmaker() as session:
            rows = (
                await session.execute(select(Instance).where(Instance.pid.is_not(None)))
            ).scalars()
            refs = [InstanceRef.of(i) for i in rows]
        for ref in refs:
            if ref.handle is not None and self.ctx.driver.alive(ref.handle):
                await self.ctx.driver.stop(ref.handle, 1.0)


@pytest.fixture(scope="session")
async def deploy_node(deploy_settings: DeploySettings) -> AsyncIterator[Node]:
    node = Node(deploy_settings)
    yield node
    await node.stop_everything()
    relay = node.worker._relay  # WorkerRuntime has no close(): its publisher's connection
    if relay is not None:
        await relay.publisher.close()
    await asyncio.sleep(0)
    await node.worker.db.dispose()


async def new_app(
    http: httpx.AsyncClient, who: Person, repo: Path | None, **fields: Any
) -> dict[str, Any]:
    body = {"slug": f"t-{uuid.uuid4().hex[:10]}", "template": "python-web", **fields}
    if repo is not None:
        body["repo_url"] = f"file://{repo}"
    r = await http.post(f"{API}/apps", json=body, headers=who.headers)
    assert r.status_code == 201, r.text
    return r.json()


async def ask(http: httpx.AsyncClient, who: Person, app_id: str, action: str) -> dict[str, Any]:
    path = {"deploy": "deployments"}.get(action, action)
    r = await http.post(f"{API}/apps/{app_id}/{path}", headers=who.headers)
    assert r.status_code == 202, r.text
    return r.json()


async def app_state(http: httpx.AsyncClient, who: Person, app_id: str) -> dict[str, Any]:
    r = await http.get(f"{API}/apps/{app_id}", headers=who.headers)
    assert r.status_code == 200, r.text
    return r.json()


async def op_state(http: httpx.AsyncClient, who: Person, app_id: str, op_id: str) -> dict:
    r = await http.get(f"{API}/apps/{app_id}/operations/{op_id}", headers=who.headers)
    assert r.status_code == 200, r.text
    return r.json()


async def outbox_events(
    node: "Node", app_id: str, prefix: str = "deploy.instance."
) -> list[tuple[str, dict]]:
    """Events (instance events unless told) about this app in the outbox, oldest first."""
    import json

    from sqlalchemy import text

    async def read(session):
        rows = await session.execute(
            text(
                "SELECT routing_key, body FROM deploy.outbox "
                "WHERE starts_with(routing_key, :prefix) ORDER BY created_at, id"
            ),
            {"prefix": prefix},
        )
        found = []
        for key, body in rows:
            payload = json.loads(body)[1]["event"]["payload"]
            if payload["app_id"] == app_id:
                found.append((key, payload))
        return found

    return await node.ctx.tx(read)


async def until(check, attempts: int = 200, pause: float = 0.1):
    """Call (and await, if need be) check() until it returns something truthy."""
    import asyncio
    import inspect

    for _ in range(attempts):
        result = check()
        if inspect.isawaitable(result):
            result = await result
        if result:
            return result
        await asyncio.sleep(pause)
    raise AssertionError("condition not reached")


async def build_log(http: httpx.AsyncClient, who: Person, app: dict[str, Any]) -> list[str]:
    r = await http.get(f"{API}/apps/{app['id']}/logs", headers=who.headers)
    return [line["text"] for line in r.json()["lines"]]


async def deployed(deploy_http, deploy_node, who, repo, **fields):
    app = await new_app(deploy_http, who, repo, **fields)
    await ask(deploy_http, who, app["id"], "deploy")
    await deploy_node.run_all(uuid.UUID(app["id"]))
    return await app_state(deploy_http, who, app["id"])
