"""What deploy tells its watchers (monitoring, billing): the instance and operation events it
writes to the outbox with each state change, and the liveness of every process that should
be running, as its node's supervisor knows it."""

import os
import signal
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from deploy_testkit import CRASHING_APP, make_repo, web_app_files
from fixtures_deploy import API, ask, deployed, new_app, op_state, outbox_events, until
from sqlalchemy import update

from berth_deploy.models import Instance, Operation, SupervisorBeat
from berth_deploy.operations import leases
from berth_testing.oauth import bearer, mint_access_token

WORKER = "import time\nprint('worker up', flush=True)\nwhile True:\n    time.sleep(1)\n"


@pytest.fixture(scope="module")
def web_repo(tmp_path_factory):
    return make_repo(tmp_path_factory.mktemp("signals") / "web", web_app_files("v1"))


@pytest.fixture(scope="module")
def worker_repo(tmp_path_factory):
    return make_repo(tmp_path_factory.mktemp("signals") / "worker", {"worker.py": WORKER})


@pytest.fixture(scope="session")
def machine(signing_jwks):
    """A machine client's bearer headers with these scopes."""

    def make(scope: str) -> dict[str, str]:
        client = f"svc-{uuid.uuid4().hex[:8]}"
        token = mint_access_token(
            signing_jwks,
            issuer=os.environ["BERTH_PUBLIC_URL"],
            subject=client,
            client_id=client,
            roles=[],
            scope=scope,
        )
        return bearer(token)

    return make


def when(stamp: str) -> datetime:
    return datetime.fromisoformat(stamp)


async def operation_events(node, app_id: str) -> list[tuple[str, dict]]:
    return await outbox_events(node, app_id, prefix="deploy.operation.")


async def test_a_web_deploy_announces_its_operation_and_what_to_watch(
    deploy_http, deploy_node, person, web_repo
):
    ada = person()
    app = await deployed(deploy_http, deploy_node, ada, web_repo, name="Shop front")
    assert app["status"] == "running"
    instance = app["instances"][0]

    [(key, started)] = await outbox_events(deploy_node, app["id"])
    assert key == "deploy.instance.started"
    assert started == {
        # what billing has always read
        "instance_id": instance["id"],
        "app_id": app["id"],
        "app_slug": app["slug"],
        "owner_id": str(ada.id),
        "plan_key": "web-small",
        "started_at": started["started_at"],
        # what a watcher needs
        "app_name": "Shop front",
        "release_id": app["current_release"]["id"],
        "process_type": "web",
        "hostname": f"{app['slug']}.apps.localhost",
        "health": {
            "type": "http",
            "path": "/",
            "method": "GET",
            "json": None,
            "expect_json": False,
            "timeout_seconds": 60.0,
        },
    }

    ops = await operation_events(deploy_node, app["id"])
    assert [key for key, _ in ops] == ["deploy.operation.started", "deploy.operation.finished"]
    (_, begun), (_, ended) = ops
    op_id = begun["operation_id"]
    assert begun == {
        "operation_id": op_id,
        "app_id": app["id"],
        "app_slug": app["slug"],
        "owner_id": str(ada.id),
        "kind": "deploy",
        "origin": "user",
        "release_id": None,  # a deploy's release exists once its build begins
        "started_at": begun["started_at"],
    }
    assert ended == {
        "operation_id": op_id,
        "app_id": app["id"],
        "app_slug": app["slug"],
        "owner_id": str(ada.id),
        "kind": "deploy",
        "origin": "user",
        "outcome": "succeeded",
        "reason": None,
        "finished_at": ended["finished_at"],
    }
    op = await op_state(deploy_http, ada, app["id"], op_id)
    assert op["status"] == "succeeded"
    assert begun["started_at"] <= started["started_at"] <= ended["finished_at"]

    # a stop by its owner: the instance stopped "by user", and no operation mutes anything
    await ask(deploy_http, ada, app["id"], "stop")
    await deploy_node.run_all(uuid.UUID(app["id"]))
    keys = [(k, p.get("reason")) for k, p in await outbox_events(deploy_node, app["id"])]
    assert keys[-1] == ("deploy.instance.stopped", "stopped by user")
    assert len(await operation_events(deploy_node, app["id"])) == 2


async def test_a_deploy_that_fails_its_start_finishes_failed(
    deploy_http, deploy_node, person, tmp_path
):
    repo = make_repo(tmp_path / "crash", {"app.py": CRASHING_APP})
    ada = person()
    app = await deployed(deploy_http, deploy_node, ada, repo)
    assert app["status"] == "failed"

    assert await outbox_events(deploy_node, app["id"]) == []  # nothing ever went live
    ops = await operation_events(deploy_node, app["id"])
    assert [key for key, _ in ops] == ["deploy.operation.started", "deploy.operation.finished"]
    ended = ops[1][1]
    assert ended["operation_id"] == ops[0][1]["operation_id"]
    assert ended["kind"] == "deploy" and ended["outcome"] == "failed"
    assert ended["reason"].startswith("crash loop: the process exited with code 3")


async def test_an_operation_retried_after_a_lost_worker_starts_once_and_finishes_once(
    deploy_http, deploy_node, person, web_repo
):
    ada = person()
    app = await new_app(deploy_http, ada, web_repo)
    first = await ask(deploy_http, ada, app["id"], "deploy")
    app_id, tx = uuid.UUID(app["id"]), deploy_node.ctx.tx
    await tx(leases.acquire, app_id=app_id, owner="lost", node="n", lease_seconds=30)

    async def expire(session):
        await session.execute(
            update(Operation)
            .where(Operation.id == uuid.UUID(first["id"]))
            .values(lease_expires_at=datetime.now(UTC) - timedelta(seconds=1))
        )

    await tx(expire)
    await tx(leases.reap_expired, max_attempts=2)  # queued again for its retry
    await ask(deploy_http, ada, app["id"], "deploy")  # supersedes the retry

    ops = [
        (k, p["operation_id"], p.get("outcome"))
        for k, p in await operation_events(deploy_node, app["id"])
    ]
    assert ops == [
        ("deploy.operation.started", first["id"], None),
        ("deploy.operation.finished", first["id"], "superseded"),
    ]


async def liveness_of(deploy_http, headers, instance_id: str) -> dict | None:
    """The instance's liveness item, paging through every page."""
    after = None
    while True:
        params = {"limit": 1000, **({"after": after} if after else {})}
        r = await deploy_http.get(f"{API}/liveness", params=params, headers=headers)
        assert r.status_code == 200, r.text
        page = r.json()
        for item in page["items"]:
            if item["instance_id"] == instance_id:
                return item
        if page["next_after"] is None:
            return None
        after = page["next_after"]


async def instance_row(node, instance_id: str) -> Instance:
    async def read(session):
        return await session.get(Instance, uuid.UUID(instance_id))

    return await node.ctx.tx(read)


async def test_liveness_is_the_supervisors_word_on_each_process(
    deploy_http, deploy_node, deploy_settings, person, machine, worker_repo
):
    ada = person()
    app = await deployed(deploy_http, deploy_node, ada, worker_repo, template="worker")
    assert app["status"] == "running", app
    instance_id = app["instances"][0]["id"]
    [(_, started)] = await outbox_events(deploy_node, app["id"])
    assert started["process_type"] == "worker" and started["hostname"] is None
    assert started["health"] == {
        "type": "process",
        "path": None,
        "method": None,
        "json": None,
        "expect_json": False,
        "timeout_seconds": 30.0,
    }

    monitoring = machine("deploy:read")
    await deploy_node.supervisor.tick()
    item = await liveness_of(deploy_http, monitoring, instance_id)
    assert item == {
        "app_id": app["id"],
        "instance_id": instance_id,
        "owner_id": str(ada.id),
        "release_id": app["current_release"]["id"],
        "node": deploy_settings.node_name,
        "process_type": "worker",
        "alive": True,
        "state": "running",
        "since": item["since"],
        "restarts": 0,
        "reason": None,
        "observed_at": item["observed_at"],
    }
    assert when(item["since"]) == when(started["started_at"])

    # the process is killed: the supervisor's next tick sees it gone
    row = await instance_row(deploy_node, instance_id)
    os.killpg(row.pid, signal.SIGKILL)

    async def noticed():  # one tick marks it crashed, a later one restarts it: read between
        await deploy_node.supervisor.tick()
        now = await liveness_of(deploy_http, monitoring, instance_id)
        return now["state"] == "crashed" and now

    down = await until(noticed)
    assert down["alive"] is False
    assert down["reason"] == "killed by signal 9; restart pending"
    assert when(down["since"]) > when(item["since"]) and down["restarts"] == 0

    # and brings it back after its backoff
    async def back():
        await deploy_node.supervisor.tick()
        now = await liveness_of(deploy_http, monitoring, instance_id)
        return now["alive"] and now

    up = await until(back)
    assert up["state"] == "running" and up["restarts"] == 1 and up["reason"] is None
    assert when(up["since"]) > when(down["since"])

    # a supervisor that stops ticking watches nothing: its node's processes are unknown
    async def silence(session):
        await session.execute(
            update(SupervisorBeat)
            .where(SupervisorBeat.node == deploy_settings.node_name)
            .values(beat_at=datetime.now(UTC) - timedelta(minutes=5))
        )

    await deploy_node.ctx.tx(silence)
    unknown = await liveness_of(deploy_http, monitoring, instance_id)
    assert unknown["alive"] is False and unknown["state"] == "unknown"
    assert unknown["reason"].startswith(
        f"the supervisor of node {deploy_settings.node_name} has not ticked since"
    )
    await deploy_node.supervisor.tick()
    assert (await liveness_of(deploy_http, monitoring, instance_id))["alive"] is True

    # a stopped app's process is no longer one that should run
    await ask(deploy_http, ada, app["id"], "stop")
    await deploy_node.run_all(uuid.UUID(app["id"]))
    assert await liveness_of(deploy_http, monitoring, instance_id) is None


async def test_liveness_is_for_monitoring_and_admins_only(
    deploy_http, deploy_node, person, machine, web_repo
):
    ada = person()
    app = await deployed(deploy_http, deploy_node, ada, web_repo)
    await deploy_node.supervisor.tick()
    url = f"{API}/liveness"

    r = await deploy_http.get(url, headers=ada.headers)
    assert r.status_code == 403 and r.json()["error"]["code"] == "forbidden"
    r = await deploy_http.get(url, headers=machine("deploy:write billing:read"))
    assert r.status_code == 403 and r.json()["error"]["code"] == "insufficient_scope"
    assert (await deploy_http.get(url)).status_code == 401

    admin = person(["admin"])
    item = await liveness_of(deploy_http, admin.headers, app["instances"][0]["id"])
    assert item["alive"] is True and item["process_type"] == "web"

    monitoring = machine("deploy:read")
    r = await deploy_http.get(url, params={"limit": 1}, headers=monitoring)
    page = r.json()
    assert len(page["items"]) == 1 and page["next_after"] == page["items"][0]["instance_id"]
    r = await deploy_http.get(
        url, params={"limit": 1, "after": page["next_after"]}, headers=monitoring
    )
    assert all(i["instance_id"] > page["next_after"] for i in r.json()["items"])
    for bad in ({"limit": 0}, {"limit": 1001}, {"after": "not-an-id"}, {"limit": "x"}):
        r = await deploy_http.get(url, params=bad, headers=monitoring)
        assert r.status_code == 422, bad
        assert r.json()["error"]["code"] == "validation_error"
