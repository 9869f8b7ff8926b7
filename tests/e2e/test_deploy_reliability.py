"""What goes wrong around running apps: the deploy worker is SIGKILLed mid-build (the lease
is reaped and the deploy finishes, never stuck), the worker and the supervisor die while
apps run (the apps keep serving and are adopted, not restarted), an app probes its sandbox
(no platform files, no other app, no platform env), and billing suspends and unsuspends an
owner (their apps stop and come back; billing hears every instance interval)."""

import os
import uuid
from datetime import UTC, datetime

import pytest
from deploy_e2e import (
    API,
    EventTap,
    create_app,
    deployed,
    get_app,
    operation,
    processes_with,
    publish_event,
    request,
    sign_in,
    sql,
    start_supervisor,
    via_traefik,
    wait_operation,
)
from deploy_testkit import make_repo, wait_for, web_app_files

pytestmark = pytest.mark.usefixtures("deploy_node")


@pytest.fixture(scope="module")
def dave(signed_in):
    return signed_in()


@pytest.fixture(scope="module")
def repo(tmp_path_factory):
    return make_repo(tmp_path_factory.mktemp("repo") / "site", web_app_files("v1"))


def instance_row(platform, app_id: str) -> tuple:
    rows = sql(
        platform,
        "SELECT id, pid, restart_count FROM deploy.instances "
        "WHERE app_id = :app AND status = 'running'",
        app=uuid.UUID(app_id),
    )
    assert len(rows) == 1, rows
    return rows[0]


def test_worker_killed_mid_build_is_reaped_and_the_deploy_finishes(edge, platform, dave, repo):
    marker = f"{uuid.uuid4().int % 1000}.{uuid.uuid4().int % 10**6}"
    # slow on the first attempt only: /data is kept across attempts
    build = f"if [ ! -e /data/built-once ]; then touch /data/built-once; sleep {marker}; fi"
    app = create_app(edge, dave, f"file://{repo}", build_command=build)
    op = request(edge, dave, app["id"], "deploy")
    # the step's shell shows the marker before it has touched /data: wait for the mark too
    mark = os.path.join(platform.env["DEPLOY_DATA_DIR"], "apps", app["id"], "data", "built-once")
    wait_for(
        lambda: processes_with(f"sleep {marker}") and os.path.exists(mark),
        60,
        "the slow build step",
    )

    platform.processes["deploy-worker"].kill()  # SIGKILL, the whole worker process group
    try:
        # the sandboxed build dies with its parent; the operation is left on its lease
        wait_for(lambda: not processes_with(f"sleep {marker}"), 20, "the build to die")
        reaped = wait_for(
            lambda: (o := operation(edge, dave, app["id"], op["id"]))["status"] == "queued" and o,
            60,
            "the supervisor to reap the expired lease",
        )
        assert "lost during build" in reaped["reason"]
        assert "retrying (attempt 2 of 2)" in reaped["reason"]
    finally:
        platform.start_worker("deploy")
    done = wait_operation(edge, dave, app["id"], op["id"])
    assert done["status"] == "succeeded", done
    assert done["attempt"] == 2
    assert via_traefik(platform, app["slug"]).text == "hello v1"


def test_apps_outlive_worker_and_supervisor_and_are_adopted(edge, platform, dave, repo):
    app = deployed(edge, platform, dave, f"file://{repo}")
    before = instance_row(platform, app["id"])

    platform.processes["deploy-worker"].kill()
    platform.processes.pop("deploy-supervisor").kill()
    try:
        assert via_traefik(platform, app["slug"]).text == "hello v1"
    finally:
        platform.start_worker("deploy")
        supervisor = start_supervisor(platform)
    wait_for(lambda: b"alive and adopted" in supervisor.output(), 30, "adoption")
    assert instance_row(platform, app["id"]) == before  # same process, not restarted
    assert via_traefik(platform, app["slug"]).text == "hello v1"

    # the adopted process is supervised: when it dies, it is restarted
    via_traefik(platform, app["slug"], "/exit")
    wait_for(
        lambda: (
            sql(
                platform,
                "SELECT restart_count FROM deploy.instances WHERE id = :id AND status = 'running'",
                id=before[0],
            )
            == [(1,)]
        ),
        30,
        "the restart",
    )
    wait_for(lambda: via_traefik(platform, app["slug"]).text == "hello v1", 30, "serving again")
    stopped = wait_operation(edge, dave, app["id"], request(edge, dave, app["id"], "stop")["id"])
    assert stopped["status"] == "succeeded"


def test_the_sandbox_hides_platform_files_other_apps_services_and_env(edge, platform, dave, repo):
    first = deployed(edge, platform, dave, f"file://{repo}")
    second = deployed(
        edge, platform, dave, f"file://{repo}", env=[{"name": "GREETING", "value": "hi"}]
    )
    data_dir = platform.env["DEPLOY_DATA_DIR"]
    first_release = os.path.join(
        data_dir, "apps", first["id"], "releases", first["current_release"]["id"]
    )
    assert os.path.isdir(first_release)  # it is there, on the host

    def probe(path: str) -> dict:
        r = via_traefik(platform, second["slug"], "/read", params={"p": path})
        assert r.status_code == 200, r.text
        return r.json()

    for hidden in (
        first_release,
        data_dir,
        os.path.dirname(data_dir),  # the platform's var/
        str(platform.root),  # the code, .venv and dev secrets
        platform.dynamic_dir.as_posix(),  # Traefik's routes
        "/etc/shadow",
        "/root",
    ):
        assert probe(hidden) == {"exists": False, "readable": False, "uid": probe("/")["uid"]}
    assert probe("/app/app.py")["readable"] is True
    assert probe("/data")["readable"] is True

    uids = {
        probe("/")["uid"],
        via_traefik(platform, first["slug"], "/read", params={"p": "/"}).json()["uid"],
    }
    assert len(uids) == 2 and 0 not in uids  # each app its own unprivileged uid

    # its network is its own: test_deploy_isolation.py probes every platform port from inside

    env = via_traefik(platform, second["slug"], "/env").json()
    assert {"PATH", "HOME", "PORT", "GREETING"} <= set(env)
    assert set(env) <= {"PATH", "HOME", "PORT", "GREETING", "PYTHONUNBUFFERED", "PWD", "LC_CTYPE"}


def test_billing_suspension_stops_the_apps_and_unsuspension_brings_them_back(
    edge, platform, register_verified, repo
):
    erin = sign_in(edge, register_verified())
    tap = EventTap(platform)
    try:
        app = deployed(edge, platform, erin, f"file://{repo}")
        stopped_app = deployed(edge, platform, erin, f"file://{repo}")
        wait_operation(
            edge, erin, stopped_app["id"], request(edge, erin, stopped_app["id"], "stop")["id"]
        )

        publish_event(
            platform,
            "billing.account.suspended",
            {
                "owner_id": erin.id,
                "reason": "balance below zero",
                "suspended_at": datetime.now(UTC).isoformat(),
            },
        )
        suspended = wait_for(
            lambda: (a := get_app(edge, erin, app["id"]))["status"] == "suspended" and a,
            60,
            "the app to be suspended",
        )
        assert suspended["suspended_by"] == "billing"
        assert suspended["status_reason"] == "balance below zero"
        assert not via_traefik(platform, app["slug"]).text.startswith("hello")
        refused = edge.post(f"{API}/apps/{stopped_app['id']}/start", headers=erin.headers)
        assert refused.status_code == 409
        assert refused.json()["error"]["code"] == "account_suspended"

        publish_event(
            platform,
            "billing.account.unsuspended",
            {"owner_id": erin.id, "unsuspended_at": datetime.now(UTC).isoformat()},
        )
        wait_for(
            lambda: get_app(edge, erin, app["id"])["status"] == "running",
            60,
            "the app to come back",
        )
        assert via_traefik(platform, app["slug"]).text == "hello v1"
        assert get_app(edge, erin, stopped_app["id"])["status"] == "stopped"  # stays stopped

        events = wait_for(
            lambda: len(e := tap.of_app(app["id"])) >= 3 and e, 30, "the instance events"
        )
        keys = [key for key, _ in events]
        assert keys == [
            "deploy.instance.started",
            "deploy.instance.suspended",
            "deploy.instance.started",
        ]
        started, suspension, restarted = (payload for _, payload in events)
        assert started["owner_id"] == erin.id and started["plan_key"] == "web-small"
        assert started["app_slug"] == app["slug"]
        assert suspension["instance_id"] == started["instance_id"]
        assert suspension["reason"] == "balance below zero"
        assert suspension["stopped_at"] >= started["started_at"]
        assert restarted["instance_id"] != started["instance_id"]
    finally:
        tap.close()
