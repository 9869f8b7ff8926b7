"""The per-app operation queue and its leases: one at a time, newer deploys supersede queued
ones, cancel, and the reaper that retries or fails what a dead worker held."""

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from deploy_testkit import make_repo, web_app_files
from fixtures_deploy import API, app_state, ask, new_app, op_state
from sqlalchemy import select, update

from berth_deploy.models import App, Operation
from berth_deploy.operations import leases
from berth_deploy.operations.leases import LeaseLost
from berth_deploy.operations.lifecycle import APP_TRANSITIONS, IllegalTransition, check_transition


@pytest.fixture(scope="module")
def repo(tmp_path_factory):
    return make_repo(tmp_path_factory.mktemp("ops") / "repo", web_app_files("v1"))


def test_the_state_machine_only_allows_its_edges():
    check_transition("created", "queued")
    check_transition("running", "stopping")
    for current, new in (("stopped", "running"), ("deleted", "queued"), ("created", "running")):
        with pytest.raises(IllegalTransition):
            check_transition(current, new)
    assert APP_TRANSITIONS["deleted"] == frozenset()
    assert all(
        target in APP_TRANSITIONS for targets in APP_TRANSITIONS.values() for target in targets
    )


async def test_a_newer_deploy_supersedes_a_queued_one_and_cancel_restores(
    deploy_http, person, repo
):
    ada = person()
    app = await new_app(deploy_http, ada, repo)
    first = await ask(deploy_http, ada, app["id"], "deploy")
    assert (await app_state(deploy_http, ada, app["id"]))["status"] == "queued"
    second = await ask(deploy_http, ada, app["id"], "deploy")
    assert (await op_state(deploy_http, ada, app["id"], first["id"]))["status"] == "superseded"

    r = await deploy_http.post(
        f"{API}/apps/{app['id']}/deployments/{second['id']}/cancel", headers=ada.headers
    )
    assert r.status_code == 202 and r.json()["status"] == "cancelled"
    assert (await app_state(deploy_http, ada, app["id"]))["status"] == "created"
    again = await deploy_http.post(
        f"{API}/apps/{app['id']}/deployments/{second['id']}/cancel", headers=ada.headers
    )
    assert again.status_code == 409
    missing = await deploy_http.post(
        f"{API}/apps/{app['id']}/deployments/{uuid.uuid4()}/cancel", headers=ada.headers
    )
    assert missing.status_code == 404


async def test_start_stop_restart_need_an_idle_app(deploy_http, deploy_app, person, repo):
    ada = person()
    app = await new_app(deploy_http, ada, repo)
    async with deploy_app.state.db.sessionmaker() as session, session.begin():
        await session.execute(
            update(App).where(App.id == uuid.UUID(app["id"])).values(status="running")
        )
    await ask(deploy_http, ada, app["id"], "deploy")  # queued behind nothing: waits for a worker
    for action in ("stop", "restart"):
        r = await deploy_http.post(f"{API}/apps/{app['id']}/{action}", headers=ada.headers)
        assert r.status_code == 409
        assert r.json()["error"]["code"] == "operation_in_progress"


async def test_leases_heartbeats_and_the_reaper(deploy_http, deploy_node, person, repo):
    ada = person()
    app = await new_app(deploy_http, ada, repo)
    op = await ask(deploy_http, ada, app["id"], "deploy")
    app_id, op_id, tx = uuid.UUID(app["id"]), uuid.UUID(op["id"]), deploy_node.rt.tx

    claim = await tx(leases.acquire, app_id=app_id, owner="w1", node="n", lease_seconds=30)
    assert claim.op_id == op_id and claim.attempt == 1
    assert await tx(leases.acquire, app_id=app_id, owner="w2", node="n", lease_seconds=30) is None
    assert await tx(leases.heartbeat, op_id=op_id, owner="w1", lease_seconds=30, pgid=None) is False
    with pytest.raises(LeaseLost):
        await tx(leases.heartbeat, op_id=op_id, owner="w2", lease_seconds=30, pgid=None)
    await deploy_http.post(
        f"{API}/apps/{app['id']}/deployments/{op['id']}/cancel", headers=ada.headers
    )
    assert await tx(leases.heartbeat, op_id=op_id, owner="w1", lease_seconds=30, pgid=None) is True

    async def expire(session):
        await session.execute(
            update(Operation)
            .where(Operation.id == op_id)
            .values(
                lease_expires_at=datetime.now(UTC) - timedelta(seconds=1), cancel_requested_at=None
            )
        )

    await tx(expire)
    reaped = await tx(leases.reap_expired, max_attempts=2)
    assert [(r.op_id, r.retried) for r in reaped] == [(op_id, True)]
    state = await op_state(deploy_http, ada, app["id"], op["id"])
    assert state["status"] == "queued"
    assert "retrying (attempt 2 of 2)" in state["reason"]

    claim = await tx(leases.acquire, app_id=app_id, owner="w3", node="n", lease_seconds=30)
    assert claim.attempt == 2
    await tx(expire)
    await tx(leases.reap_expired, max_attempts=2)
    state = await op_state(deploy_http, ada, app["id"], op["id"])
    assert state["status"] == "failed"
    assert "gave up after 2 attempt(s)" in state["reason"]
    detail = await app_state(deploy_http, ada, app["id"])
    assert detail["status"] == "failed" and detail["active_operation_id"] is None


async def test_builds_per_node_are_limited(deploy_http, deploy_node, person, repo):
    ada = person()
    ops = []
    for _ in range(2):
        app = await new_app(deploy_http, ada, repo)
        await ask(deploy_http, ada, app["id"], "deploy")
        claim = await deploy_node.rt.tx(
            leases.acquire,
            app_id=uuid.UUID(app["id"]),
            owner="w",
            node="slot-node",
            lease_seconds=30,
        )
        ops.append(claim.op_id)
    tx = deploy_node.rt.tx
    take = leases.take_build_slot
    assert await tx(take, op_id=ops[0], owner="w", node="slot-node", limit=1) is True
    assert await tx(take, op_id=ops[1], owner="w", node="slot-node", limit=1) is False
    assert await tx(take, op_id=ops[1], owner="w", node="slot-node", limit=2) is True

    async def steps(session):
        rows = await session.execute(select(Operation.step).where(Operation.id.in_(ops)))
        return sorted(rows.scalars())

    assert await tx(steps) == ["clone", "clone"]
