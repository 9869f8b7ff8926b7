"""The per-app operation queue and its leases: one at a time, newer deploys supersede queued
ones, cancel, and the reaper that retries or fails what a dead worker held."""

import asyncio
import dataclasses
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from deploy_testkit import make_repo, web_app_files
from fixtures_deploy import API, app_state, ask, new_app, op_state
from sqlalchemy import select, update

from berth_deploy.models import App, Instance, Operation
from berth_deploy.operations import leases
from berth_deploy.operations.executor import run_claim
from berth_deploy.operations.flows import FLOWS
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
    app_id, op_id, tx = uuid.UUID(app["id"]), uuid.UUID(op["id"]), deploy_node.ctx.tx

    claim = await tx(leases.acquire, app_id=app_id, owner="w1", node="n", lease_seconds=30)
    assert claim.op_id == op_id and claim.attempt == 1
    assert await tx(leases.acquire, app_id=app_id, owner="w2", node="n", lease_seconds=30) is None
    assert await tx(leases.heartbeat, op_id=op_id, owner="w1", lease_seconds=30, pgid=None) is None
    with pytest.raises(LeaseLost):
        await tx(leases.heartbeat, op_id=op_id, owner="w2", lease_seconds=30, pgid=None)
    await deploy_http.post(
        f"{API}/apps/{app['id']}/deployments/{op['id']}/cancel", headers=ada.headers
    )
    cancel = await tx(leases.heartbeat, op_id=op_id, owner="w1", lease_seconds=30, pgid=None)
    assert cancel == leases.CancelRequest("cancelled by request", forced=False)

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
        claim = await deploy_node.ctx.tx(
            leases.acquire,
            app_id=uuid.UUID(app["id"]),
            owner="w",
            node="slot-node",
            lease_seconds=30,
        )
        ops.append(claim.op_id)
    tx = deploy_node.ctx.tx
    take = leases.take_build_slot
    assert await tx(take, op_id=ops[0], owner="w", node="slot-node", limit=1) is True
    assert await tx(take, op_id=ops[1], owner="w", node="slot-node", limit=1) is False
    assert await tx(take, op_id=ops[1], owner="w", node="slot-node", limit=2) is True

    async def steps(session):
        rows = await session.execute(select(Operation.step).where(Operation.id.in_(ops)))
        return sorted(rows.scalars())

    assert await tx(steps) == ["clone", "clone"]


async def _run_with_heartbeat(deploy_node, app_id: uuid.UUID, heartbeat_seconds: float):
    """The app's next operation, run by a worker whose heartbeat comes every
    `heartbeat_seconds` (a slow one lets a deploy reach its last steps before it hears)."""
    settings = deploy_node.settings.model_copy(update={"heartbeat_seconds": heartbeat_seconds})
    ctx = dataclasses.replace(deploy_node.ctx, settings=settings)
    claim = await ctx.tx(
        leases.acquire, app_id=app_id, owner="slow", node=settings.node_name, lease_seconds=60
    )
    await run_claim(ctx, claim, "slow", FLOWS)


async def _wait_step(http, who, app_id: str, op_id: str, steps: tuple[str, ...]) -> None:
    for _ in range(600):
        if (await op_state(http, who, app_id, op_id))["step"] in steps:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"the operation never reached {steps}")


async def _instances(deploy_app, app_id: str) -> list[str]:
    async with deploy_app.state.db.sessionmaker() as session:
        rows = await session.execute(
            select(Instance.status).where(Instance.app_id == uuid.UUID(app_id))
        )
        return list(rows.scalars())


@pytest.mark.parametrize("heartbeat", [0.2, 30.0], ids=["heard-mid-build", "heard-at-the-end"])
async def test_deleting_an_app_mid_deploy_cancels_the_deploy_and_deletes_the_app(
    deploy_http, deploy_app, deploy_node, deploy_settings, person, repo, heartbeat
):
    ada = person()
    app = await new_app(deploy_http, ada, repo, build_command="sleep 1")
    op = await ask(deploy_http, ada, app["id"], "deploy")
    app_id = uuid.UUID(app["id"])
    running = asyncio.create_task(_run_with_heartbeat(deploy_node, app_id, heartbeat))
    await _wait_step(deploy_http, ada, app["id"], op["id"], ("build",))

    r = await deploy_http.delete(f"{API}/apps/{app['id']}", headers=ada.headers)
    assert r.status_code == 202, r.text
    deletion = r.json()
    assert deletion["kind"] == "delete" and deletion["status"] == "queued"
    assert (await op_state(deploy_http, ada, app["id"], op["id"]))["cancel_requested"] is True
    await running

    done = await op_state(deploy_http, ada, app["id"], op["id"])
    # mid-build the sleep is killed; heard only at the end, the started instance is stopped
    assert (done["status"], done["reason"]) == ("cancelled", "the app is being deleted")
    await deploy_node.run_all(app_id)
    assert (
        await deploy_http.get(f"{API}/apps/{app['id']}", headers=ada.headers)
    ).status_code == 404
    async with deploy_app.state.db.sessionmaker() as session:
        ops = {
            o.kind: o
            for o in (
                await session.execute(select(Operation).where(Operation.app_id == app_id))
            ).scalars()
        }
        stored = await session.get(App, app_id)
    assert ops["delete"].status == "succeeded", ops["delete"].reason
    assert stored.status == "deleted"
    assert set(await _instances(deploy_app, app["id"])) <= {"stopped", "failed"}
    assert not (deploy_settings.traefik_dynamic_dir / f"app-{app['slug']}.yml").exists()


async def test_a_stop_in_progress_when_the_app_is_deleted_ends_well_and_the_delete_follows(
    deploy_http, deploy_app, deploy_node, person, repo
):
    ada = person()
    app = await new_app(deploy_http, ada, repo)
    app_id = uuid.UUID(app["id"])
    await ask(deploy_http, ada, app["id"], "deploy")
    await deploy_node.run_all(app_id)
    stop = await ask(deploy_http, ada, app["id"], "stop")
    claim = await deploy_node.ctx.tx(
        leases.acquire, app_id=app_id, owner="w", node="n", lease_seconds=30
    )
    r = await deploy_http.delete(f"{API}/apps/{app['id']}", headers=ada.headers)
    assert r.status_code == 202, r.text
    await run_claim(deploy_node.ctx, claim, "w", FLOWS)
    assert (await op_state(deploy_http, ada, app["id"], stop["id"]))["status"] == "succeeded"
    await deploy_node.run_all(app_id)
    assert (
        await deploy_http.get(f"{API}/apps/{app['id']}", headers=ada.headers)
    ).status_code == 404


async def test_a_cancel_by_request_becomes_forced_when_the_app_is_then_deleted(
    deploy_http, deploy_node, person, repo
):
    ada = person()
    app = await new_app(deploy_http, ada, repo)
    op = await ask(deploy_http, ada, app["id"], "deploy")
    app_id, op_id, tx = uuid.UUID(app["id"]), uuid.UUID(op["id"]), deploy_node.ctx.tx
    await tx(leases.acquire, app_id=app_id, owner="w1", node="n", lease_seconds=30)

    async def beat():
        return await tx(leases.heartbeat, op_id=op_id, owner="w1", lease_seconds=30, pgid=None)

    cancel = f"{API}/apps/{app['id']}/deployments/{op['id']}/cancel"
    assert (await deploy_http.post(cancel, headers=ada.headers)).status_code == 202
    assert await beat() == leases.CancelRequest("cancelled by request", forced=False)
    r = await deploy_http.delete(f"{API}/apps/{app['id']}", headers=ada.headers)
    assert r.status_code == 202, r.text
    assert await beat() == leases.CancelRequest("the app is being deleted", forced=True)


async def test_a_deploy_retried_after_its_instance_went_live_only_stops_the_old_one(
    deploy_http, deploy_app, deploy_node, person, repo, monkeypatch
):
    """The worker is lost once the new instance is live (while the old one drains): the
    retry starts nothing and builds nothing again; it stops the old instance and succeeds."""
    from berth_deploy.operations import rollout

    ada = person()
    app = await new_app(deploy_http, ada, repo)
    app_id, tx = uuid.UUID(app["id"]), deploy_node.ctx.tx
    await ask(deploy_http, ada, app["id"], "deploy")
    await deploy_node.run_all(app_id)
    redeploy = await ask(deploy_http, ada, app["id"], "deploy")
    op_id = uuid.UUID(redeploy["id"])

    async def lost(*_args, **_kwargs):
        raise LeaseLost(str(op_id))  # as the worker that died: nothing more is written

    with monkeypatch.context() as patched:
        patched.setattr(rollout, "stop_instances", lost)  # the old one, once the new is live
        claim = await tx(leases.acquire, app_id=app_id, owner="w1", node="n", lease_seconds=30)
        await run_claim(deploy_node.ctx, claim, "w1", FLOWS)

    async def expire(session):
        await session.execute(
            update(Operation)
            .where(Operation.id == op_id)
            .values(lease_expires_at=datetime.now(UTC) - timedelta(seconds=1))
        )

    await tx(expire)
    reaped = await tx(leases.reap_expired, max_attempts=2)  # other tests' lapsed ones too
    assert [r.retried for r in reaped if r.op_id == op_id] == [True]
    await deploy_node.run_all(app_id)

    done = await op_state(deploy_http, ada, app["id"], redeploy["id"])
    assert (done["status"], done["attempt"]) == ("succeeded", 2), done
    async with deploy_app.state.db.sessionmaker() as session:
        rows = await session.execute(
            select(Instance.operation_id, Instance.status, Instance.stop_reason).where(
                Instance.app_id == app_id
            )
        )
        instances = {(o == op_id, s, r) for o, s, r in rows}
    # the first deploy's instance replaced; the redeploy's one instance runs
    assert instances == {(False, "stopped", "replaced by release #2"), (True, "running", None)}
