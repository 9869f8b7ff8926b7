"""The node supervisor on real processes: a crashed instance is restarted, a crash loop
fails the app (and billing hears the instance stopped), route files are reconciled, and an
instance a lost worker was starting is cleaned up."""

import asyncio
import os
import signal
import uuid
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from deploy_testkit import make_repo, web_app_files
from fixtures_deploy import app_state, ask, new_app, outbox_events, until
from sqlalchemy import select, update

from berth_deploy.models import Instance
from berth_deploy.supervisor.__main__ import Leadership


@pytest.fixture
async def running(deploy_http, deploy_node, person, tmp_path):
    repo = make_repo(tmp_path / "repo", web_app_files("v1"))
    ada = person()
    app = await new_app(deploy_http, ada, repo)
    await ask(deploy_http, ada, app["id"], "deploy")
    await deploy_node.run_all(uuid.UUID(app["id"]))
    return ada, await app_state(deploy_http, ada, app["id"])


async def instance(node, instance_id: str) -> Instance:
    async def read(session):
        return await session.get(Instance, uuid.UUID(instance_id))

    return await node.ctx.tx(read)


def answer(traefik, slug: str) -> str:
    try:
        return httpx.get(traefik.url, headers={"Host": f"{slug}.apps.localhost"}, timeout=5).text
    except httpx.HTTPError:
        return ""


async def test_a_crash_is_restarted_and_a_crash_loop_fails_the_app(
    deploy_http, deploy_node, deploy_settings, deploy_traefik, running
):
    ada, app = running
    first = await instance(deploy_node, app["instances"][0]["id"])
    os.killpg(first.pid, signal.SIGKILL)

    async def restarted():
        await deploy_node.supervisor.tick()
        now = await instance(deploy_node, str(first.id))
        return now.status == "running" and now.restart_count == 1 and now

    again = await until(restarted)
    assert again.pid != first.pid and again.port == first.port
    await until(lambda: answer(deploy_traefik, app["slug"]) == "hello v1")

    data = deploy_settings.data_dir / "apps" / app["id"] / "data"
    (data / "crash-on-start").touch()  # every start from now on exits with code 2
    os.killpg(again.pid, signal.SIGKILL)

    async def failed():
        await deploy_node.supervisor.tick()
        return (await app_state(deploy_http, ada, app["id"]))["status"] == "failed"

    await until(failed)
    detail = await app_state(deploy_http, ada, app["id"])
    assert detail["status_reason"].startswith("crash loop: the process exited with code 2")
    assert detail["instances"][0]["status"] == "failed"
    assert answer(deploy_traefik, app["slug"]) != "hello v1"
    events = await outbox_events(deploy_node, app["id"])
    assert [key for key, _ in events] == ["deploy.instance.started", "deploy.instance.stopped"]
    assert events[1][1]["reason"] == "crash_loop"


async def test_route_files_are_reconciled(deploy_node, deploy_traefik, running):
    _, app = running
    routes = deploy_node.ctx.routes
    await routes.remove(app["slug"])
    await routes.publish("ghost-app", 23999, uuid.uuid4())
    await deploy_node.supervisor.reconcile_routes()
    assert (await routes.published())[app["slug"]] == app["instances"][0]["id"]
    assert "ghost-app" not in await routes.published()
    await until(lambda: answer(deploy_traefik, app["slug"]) == "hello v1")


async def test_an_instance_a_lost_worker_was_starting_is_cleaned_up(deploy_node, running):
    _, app = running

    async def plant(session):
        live = await session.get(Instance, uuid.UUID(app["instances"][0]["id"]))
        ghost = Instance(
            app_id=live.app_id,
            release_id=live.release_id,
            operation_id=uuid.uuid4(),
            node=live.node,
            plan_key=live.plan_key,
            status="starting",
        )
        session.add(ghost)
        await session.flush()
        await session.execute(
            update(Instance)
            .where(Instance.id == ghost.id)
            .values(created_at=datetime.now(UTC) - timedelta(hours=1))
        )
        return ghost.id

    ghost_id = await deploy_node.ctx.tx(plant)
    await deploy_node.supervisor.watch_instances()

    async def status(session):
        return (
            await session.execute(select(Instance.status).where(Instance.id == ghost_id))
        ).scalar()

    assert await deploy_node.ctx.tx(status) == "failed"


async def test_one_supervisor_per_node_leads_and_a_second_stands_by(deploy_node):
    node = f"lead-{uuid.uuid4().hex[:8]}"
    first = Leadership(deploy_node.worker, node)
    second = Leadership(deploy_node.worker, node)
    try:
        assert await first.held() is True
        assert await first.held() is True  # the next tick checks the same connection
        assert await second.held() is False
        assert first.conn is not None
        await first.conn.invalidate()  # the leader's database session ends (it died)
        first.conn = None
        for _ in range(50):
            if await second.held():
                break
            await asyncio.sleep(0.1)
        assert second.conn is not None
    finally:
        await first.drop()
        await second.drop()
