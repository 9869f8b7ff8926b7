"""Automatic deploys from forges and polling, end to end: signed push payloads in GitHub's,
GitLab's, Gitea/Forgejo's and Bitbucket's formats, sent through Traefik, deploy exactly the
commit pushed (once, however often it is delivered) and the app answers with it; a bad
signature is 401, an untracked branch is ignored; deploy's beat polls a local bare repository
and deploys the commit pushed to it. Real processes: Traefik, gateway, auth, deploy web,
worker and beat, the node supervisor, sandboxed builds and apps."""

import asyncio
import subprocess
import sys
from pathlib import Path

import pytest
from deploy_e2e import API, create_app, logs, operation, via_traefik, wait_operation
from deploy_testkit import GIT_ENV, commit, git, make_repo, wait_for, web_app_files
from forge_payloads import FORGES, push_payload, signed
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from berth_testing.processes import ManagedProcess

pytestmark = pytest.mark.usefixtures("deploy_node")


@pytest.fixture(scope="module")
def alice(signed_in):
    return signed_in()


@pytest.fixture(scope="module")
def work(tmp_path_factory) -> Path:
    return make_repo(tmp_path_factory.mktemp("hooks") / "work", web_app_files("v0"))


@pytest.fixture(scope="module")
def bare(tmp_path_factory, work) -> Path:
    """A bare repository the apps follow (as a forge's would be); `work` pushes to it."""
    path = tmp_path_factory.mktemp("forge") / "site.git"
    subprocess.run(["git", "clone", "-q", "--bare", str(work), str(path)], env=GIT_ENV, check=True)
    git(work, "remote", "add", "forge", str(path))
    return path


def push(work: Path, version: str, branch: str = "main") -> str:
    if branch != "main":
        git(work, "checkout", "-q", "-B", branch)
    sha = commit(work, web_app_files(version), f"release {version}")
    git(work, "push", "-q", "forge", f"HEAD:refs/heads/{branch}")
    if branch != "main":
        git(work, "checkout", "-q", "main")
    return sha


def hooked(edge, alice, bare: Path) -> tuple[dict, str]:
    app = create_app(edge, alice, f"file://{bare}")
    r = edge.post(f"{API}/apps/{app['id']}/webhook-secret", headers=alice.headers)
    assert r.status_code == 201, r.text
    return app, r.json()["secret"]


def deploys(edge, alice, app_id: str) -> list[dict]:
    r = edge.get(f"{API}/apps/{app_id}/operations", headers=alice.headers)
    assert r.status_code == 200, r.text
    return [op for op in r.json()["items"] if op["kind"] == "deploy"]


def deliver(edge, app_id: str, forge: str, body: bytes, headers: dict):
    return edge.post(f"{API}/hooks/{app_id}/{forge}", content=body, headers=headers)


@pytest.mark.parametrize("forge", FORGES)
def test_a_signed_push_deploys_that_commit_once(edge, platform, alice, work, bare, forge):
    app, secret = hooked(edge, alice, bare)
    sha = push(work, f"{forge}-1")
    push(work, f"{forge}-2")  # the branch moved on: the delivery still names its own commit
    body, headers = signed(forge, secret, push_payload(forge, "main", sha))
    first = deliver(edge, app["id"], forge, body, headers)
    assert first.status_code == 200, first.text
    assert first.json()["outcome"] == "deployed"
    again = deliver(edge, app["id"], forge, body, headers)
    assert again.status_code == 200 and again.json()["duplicate"] is True

    done = wait_operation(edge, alice, app["id"], first.json()["operation_id"], timeout=180)
    assert done["status"] == "succeeded", (done, logs(edge, alice, app["id"]))
    assert (done["trigger"], done["commit_sha"]) == ("webhook", sha)
    assert done["commit_author"] == "Ada Lovelace"
    assert via_traefik(platform, app["slug"]).text == f"hello {forge}-1"
    assert len(deploys(edge, alice, app["id"])) == 1


def test_bad_signatures_and_untracked_branches(edge, alice, work, bare):
    app, secret = hooked(edge, alice, bare)
    sha = push(work, "feature-1", branch="feature")
    body, headers = signed("github", "not the secret", push_payload("github", "main", sha))
    r = deliver(edge, app["id"], "github", body, headers)
    assert r.status_code == 401 and r.json()["error"]["code"] == "invalid_signature"
    body, headers = signed("gitea", secret, push_payload("gitea", "feature", sha))
    r = deliver(edge, app["id"], "gitea", body, headers)
    assert r.status_code == 200 and r.json()["outcome"] == "ignored"
    r = deliver(edge, "00000000-0000-0000-0000-000000000000", "gitea", body, headers)
    assert r.status_code == 404 and r.json()["error"]["details"] is None
    hook = edge.get(f"{API}/apps/{app['id']}/webhook", headers=alice.headers).json()
    assert [(d["forge"], d["branch"], d["outcome"]) for d in hook["deliveries"]] == [
        ("gitea", "feature", "ignored")
    ]
    assert deploys(edge, alice, app["id"]) == []


@pytest.fixture(scope="module")
def deploy_beat(platform, tmp_path_factory):
    """Deploy's beat (in the Procfile, embedded in deploy-worker), ticking every 2 s for this module."""
    schedule = tmp_path_factory.mktemp("beat") / "celerybeat-deploy"
    proc = ManagedProcess(
        "deploy-beat",
        [sys.executable, "-m", "celery", "-A", "berth_deploy.worker", "beat", "-s", str(schedule)],
        env={**platform.env_for("deploy"), "DEPLOY_POLL_TICK_SECONDS": "2"},
        log_dir=platform.logs,
        cwd=platform.root,
    ).start()
    proc.wait_ready(lambda: b"beat: Starting" in proc.output(), 30)
    yield proc
    proc.stop()


async def interval_passed(platform, app_id: str) -> None:
    engine = create_async_engine(platform.env["DATABASE_URL"])
    try:
        async with engine.begin() as conn:
            await conn.execute(
                text(
                    "UPDATE deploy.apps SET polled_at = now() - interval '61 seconds' WHERE id = :id"
                ),
                {"id": app_id},
            )
    finally:
        await engine.dispose()


def test_polling_deploys_a_commit_pushed_to_a_bare_repository(
    edge, platform, alice, work, bare, deploy_beat
):
    app = create_app(edge, alice, f"file://{bare}")
    r = edge.patch(
        f"{API}/apps/{app['id']}", json={"poll_interval_seconds": 60}, headers=alice.headers
    )
    assert r.status_code == 200, r.text
    head = git(work, "rev-parse", "HEAD")
    first = wait_for(lambda: deploys(edge, alice, app["id"]), 60, "the first poll's deploy")
    assert [(op["trigger"], op["commit_sha"]) for op in first] == [("poll", head)]
    done = wait_operation(edge, alice, app["id"], first[0]["id"], timeout=180)
    assert done["status"] == "succeeded", (done, logs(edge, alice, app["id"]))

    sha = push(work, "polled-2")
    # the interval (60 s at least) has passed, as far as the app knows
    asyncio.run(interval_passed(platform, app["id"]))
    found = wait_for(
        lambda: [op for op in deploys(edge, alice, app["id"]) if op["commit_sha"] == sha],
        60,
        "the pushed commit's poll deploy",
    )
    assert len(found) == 1 and found[0]["trigger"] == "poll"
    done = wait_operation(edge, alice, app["id"], found[0]["id"], timeout=180)
    assert done["status"] == "succeeded", (done, logs(edge, alice, app["id"]))
    assert via_traefik(platform, app["slug"]).text == "hello polled-2"
    state = edge.get(f"{API}/apps/{app['id']}", headers=alice.headers).json()
    assert state["poll_error"] is None and state["polled_at"] is not None
    assert operation(edge, alice, app["id"], found[0]["id"])["commit_author"] is None
