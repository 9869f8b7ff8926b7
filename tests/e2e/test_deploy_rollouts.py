"""Releases of a running app: a redeploy under continuous requests fails none of them, a
rollback brings the previous build back, a cancel kills the build, a broken build or an app
that keeps crashing ends `failed` with the reason in the log, never stuck."""

import uuid

import pytest
from deploy_e2e import (
    API,
    Hammer,
    create_app,
    deployed,
    get_app,
    logs,
    operation,
    processes_with,
    request,
    sql,
    via_traefik,
    wait_operation,
)
from deploy_testkit import CRASHING_APP, commit, make_repo, wait_for, web_app_files

pytestmark = pytest.mark.usefixtures("deploy_node")


@pytest.fixture(scope="module")
def carol(signed_in):
    return signed_in()


def test_redeploy_under_load_fails_no_request_and_rollback_restores(
    edge, platform, carol, tmp_path
):
    repo = make_repo(tmp_path / "repo", web_app_files("v1"))
    app = deployed(edge, platform, carol, f"file://{repo}")
    commit(repo, web_app_files("v2"), "v2")

    hammer = Hammer(platform, app["slug"])
    hammer.start()
    try:
        wait_for(lambda: len(hammer.answers) >= 20, 30, "requests before the redeploy")
        op = request(edge, carol, app["id"], "deploy")
        done = wait_operation(edge, carol, app["id"], op["id"])
        assert done["status"] == "succeeded", done
        wait_for(lambda: hammer.bodies()[-1:] == ["hello v2"], 30, "v2 answering")
        seen = len(hammer.answers)
        wait_for(lambda: len(hammer.answers) >= seen + 20, 30, "requests after the switch")
    finally:
        hammer.stopped.set()
        hammer.join(10)

    failures = [a for a in hammer.answers if a[0] != 200]
    assert failures == [], failures[:5]
    bodies = hammer.bodies()
    assert set(bodies) == {"hello v1", "hello v2"}
    first_v2 = bodies.index("hello v2")
    assert "hello v1" not in bodies[first_v2:]  # the switch is clean: no flapping back
    assert len(bodies) > 40

    detail = get_app(edge, carol, app["id"])
    assert detail["current_release"]["number"] == 2
    assert [i["status"] for i in detail["instances"][:2]] == ["running", "stopped"]
    assert detail["instances"][1]["stop_reason"] == "replaced by release #2"

    back = wait_operation(edge, carol, app["id"], request(edge, carol, app["id"], "rollback")["id"])
    assert back["status"] == "succeeded" and back["kind"] == "rollback"
    assert via_traefik(platform, app["slug"]).text == "hello v1"
    releases = edge.get(f"{API}/apps/{app['id']}/releases", headers=carol.headers).json()
    assert [(r["number"], r["current"]) for r in releases["items"]] == [(2, False), (1, True)]
    kinds = edge.get(f"{API}/apps/{app['id']}/deployments", headers=carol.headers).json()
    assert [d["kind"] for d in kinds["items"]] == ["rollback", "deploy", "deploy"]


def test_cancel_mid_build_kills_the_build_and_keeps_the_running_release(
    edge, platform, carol, tmp_path
):
    repo = make_repo(tmp_path / "repo", web_app_files("v1"))
    app = deployed(edge, platform, carol, f"file://{repo}")
    marker = f"{uuid.uuid4().int % 1000}.{uuid.uuid4().int % 10**6}"
    patched = edge.patch(
        f"{API}/apps/{app['id']}",
        json={"build_command": f"sleep {marker}"},
        headers=carol.headers,
    )
    assert patched.status_code == 200, patched.text
    op = request(edge, carol, app["id"], "deploy")
    wait_for(lambda: processes_with(f"sleep {marker}"), 60, "the build step to run")
    assert operation(edge, carol, app["id"], op["id"])["step"] == "build"

    r = edge.post(f"{API}/apps/{app['id']}/deployments/{op['id']}/cancel", headers=carol.headers)
    assert r.status_code == 202, r.text
    assert r.json()["cancel_requested"] is True
    done = wait_operation(edge, carol, app["id"], op["id"], timeout=30)
    assert done["status"] == "cancelled"
    assert processes_with(f"sleep {marker}") == []
    assert get_app(edge, carol, app["id"])["status"] == "running"
    assert via_traefik(platform, app["slug"]).text == "hello v1"
    build_log = logs(edge, carol, app["id"], "build", release_id=done["release_id"])
    assert any("deploy cancelled" in line for line in build_log)

    again = edge.post(
        f"{API}/apps/{app['id']}/deployments/{op['id']}/cancel", headers=carol.headers
    )
    assert again.status_code == 409


def test_deleting_an_app_mid_deploy_cancels_the_deploy_and_the_app_is_gone(
    edge, platform, carol, tmp_path
):
    repo = make_repo(tmp_path / "repo", web_app_files("v1"))
    marker = f"{uuid.uuid4().int % 1000}.{uuid.uuid4().int % 10**6}"
    app = create_app(edge, carol, f"file://{repo}", build_command=f"sleep {marker}")
    op = request(edge, carol, app["id"], "deploy")
    wait_for(lambda: processes_with(f"sleep {marker}"), 60, "the build step to run")

    r = edge.delete(f"{API}/apps/{app['id']}", headers=carol.headers)
    assert r.status_code == 202, r.text
    deletion = r.json()
    assert (deletion["kind"], deletion["status"]) == ("delete", "queued")

    def status_of(op_id: str) -> tuple[str, str | None]:
        # the API shows a deleted app's operations to no one: read them where they are kept
        [(status, reason)] = sql(
            platform, "SELECT status, reason FROM deploy.operations WHERE id = :id", id=op_id
        )
        return status, reason

    wait_for(lambda: status_of(deletion["id"])[0] == "succeeded", 60, "the delete to finish")
    assert status_of(op["id"]) == ("cancelled", "the app is being deleted")
    assert processes_with(f"sleep {marker}") == []
    gone = edge.get(f"{API}/apps/{app['id']}", headers=carol.headers)
    assert gone.status_code == 404 and gone.json()["error"]["code"] == "not_found"
    assert not via_traefik(platform, app["slug"]).text.startswith("hello")
    [(release_status,)] = sql(
        platform,
        "SELECT status FROM deploy.releases WHERE app_id = :id",
        id=app["id"],
    )
    assert release_status == "cancelled"


def test_a_newer_deploy_supersedes_a_queued_one(edge, platform, carol, tmp_path):
    repo = make_repo(tmp_path / "repo", web_app_files("v1"))
    app = create_app(edge, carol, f"file://{repo}", build_command="sleep 3")
    first = request(edge, carol, app["id"], "deploy")
    second = request(edge, carol, app["id"], "deploy")
    third = request(edge, carol, app["id"], "deploy")
    assert wait_operation(edge, carol, app["id"], third["id"])["status"] == "succeeded"
    statuses = {
        op["id"]: operation(edge, carol, app["id"], op["id"])["status"] for op in (first, second)
    }
    # whichever of the first two was still queued when a newer one came was superseded and
    # never built; the one a worker had already taken ran to its end
    assert "superseded" in statuses.values()
    assert set(statuses.values()) <= {"succeeded", "superseded"}
    releases = edge.get(f"{API}/apps/{app['id']}/releases", headers=carol.headers).json()
    assert releases["total"] == 1 + list(statuses.values()).count("succeeded")


def test_a_broken_build_fails_with_the_error_in_the_log(edge, platform, carol, tmp_path):
    repo = make_repo(
        tmp_path / "repo",
        web_app_files("v1", **{"requirements.txt": "this is not a requirement !!\n"}),
    )
    app = create_app(edge, carol, f"file://{repo}")
    done = wait_operation(edge, carol, app["id"], request(edge, carol, app["id"], "deploy")["id"])
    assert done["status"] == "failed"
    assert "build step failed with exit code" in done["reason"]
    assert "requirements.txt" in done["reason"]
    detail = get_app(edge, carol, app["id"])
    assert detail["status"] == "failed"
    assert detail["current_release"] is None
    build_log = "\n".join(logs(edge, carol, app["id"], "build"))
    assert "this is not a requirement" in build_log  # uv's own error, as the build printed it
    assert "deploy failed" in build_log


def test_an_app_that_crashes_on_start_is_a_crash_loop(edge, platform, carol, tmp_path):
    repo = make_repo(tmp_path / "repo", {"app.py": CRASHING_APP})
    app = create_app(edge, carol, f"file://{repo}")
    done = wait_operation(edge, carol, app["id"], request(edge, carol, app["id"], "deploy")["id"])
    assert done["status"] == "failed"
    assert done["reason"].startswith("crash loop: the process exited with code 3")
    detail = get_app(edge, carol, app["id"])
    assert detail["status"] == "failed"
    assert detail["status_reason"].startswith("crash loop")
    run_log = logs(edge, carol, app["id"], "run")
    assert sum("starting... and failing" in line for line in run_log) == 3
    assert not via_traefik(platform, app["slug"]).text.startswith("hello")


def test_a_crash_loop_after_start_is_detected_and_the_app_fails(edge, platform, carol, tmp_path):
    repo = make_repo(tmp_path / "repo", web_app_files("v1"))
    app = deployed(edge, platform, carol, f"file://{repo}")
    via_traefik(platform, app["slug"], "/exit")  # a single crash: restarted, serves again
    wait_for(
        lambda: (
            get_app(edge, carol, app["id"])["instances"][0]["restart_count"] == 1
            and via_traefik(platform, app["slug"]).text == "hello v1"
        ),
        30,
        "the supervisor to restart the crashed app",
    )

    via_traefik(platform, app["slug"], "/crash")  # from now on every start crashes
    detail = wait_for(
        lambda: (d := get_app(edge, carol, app["id"]))["status"] == "failed" and d,
        60,
        "the crash loop to be detected",
    )
    assert detail["status_reason"].startswith("crash loop: the process exited with code 2")
    assert detail["instances"][0]["status"] == "failed"
    # the status is written before the supervisor's last line reaches the run log
    run_log = wait_for(
        lambda: (
            (t := "\n".join(logs(edge, carol, app["id"], "run")))
            and "not restarting (app failed)" in t
            and t
        ),
        15,
        "the supervisor's last word in the run log",
    )
    assert "restarting in" in run_log
    assert not via_traefik(platform, app["slug"]).text.startswith("hello")
