"""`git push` to Berth, end to end: a real git client with a deploy token, through Traefik and
the gateway, to the deploy web process's git remote; the deploy worker and node supervisor
build and run what was pushed. The push prints the build and ends with the app's URL; a
second push redeploys with no failed request; wrong tokens and other people's tokens are
refused; other branches are only stored; apps hosts never reach the remote."""

import html
import os
import re
import subprocess
import uuid
from pathlib import Path

import httpx
import pytest
from deploy_e2e import API, Hammer, create_app, get_app, via_traefik
from deploy_testkit import GIT_ENV, commit, git, make_repo, wait_for, web_app_files
from frontend_web import WebClient
from support import PASSWORD

pytestmark = pytest.mark.usefixtures("deploy_node")


@pytest.fixture(scope="module")
def carol(signed_in):
    return signed_in()


@pytest.fixture(scope="module")
def bob(signed_in):
    return signed_in()


def token_for(edge: httpx.Client, person, app_id: str) -> dict:
    r = edge.post(
        f"{API}/apps/{app_id}/deploy-tokens", json={"name": "laptop"}, headers=person.headers
    )
    assert r.status_code == 201, r.text
    return r.json()


def with_token(remote_url: str, token: str) -> str:
    scheme, _, rest = remote_url.partition("://")
    return f"{scheme}://git:{token}@{rest}"


def push(work: Path, remote: str, *refspecs: str, timeout: float = 300) -> tuple[int, str]:
    env = {**GIT_ENV, "GIT_TERMINAL_PROMPT": "0", "GIT_ASKPASS": "/bin/false", "LANG": "C"}
    done = subprocess.run(
        ["git", "-C", str(work), "push", remote, *refspecs],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    return done.returncode, done.stdout + done.stderr


def test_a_push_deploys_prints_the_build_and_a_second_push_redeploys_with_no_downtime(
    edge, platform, carol, tmp_path
):
    app = create_app(edge, carol, None)  # push-only: no repository URL
    made = token_for(edge, carol, app["id"])
    remote = with_token(made["remote_url"], made["token"])
    assert made["remote_url"] == f"{platform.public_url}/git/{app['slug']}.git"
    work = make_repo(tmp_path / "work", web_app_files("v1"))
    first = git(work, "rev-parse", "HEAD")

    code, out = push(work, remote, "main")
    assert code == 0, out
    assert f"remote: -----> main {first[:12]}: deploying" in out
    assert "remote: -----> Building" in out
    assert f"commit {first}" in out  # a line of the build log itself
    assert f"remote: =====> Deployed {first[:12]}" in out
    url = f"http://{app['slug']}.apps.localhost:{platform.ports['traefik']}"
    remote_lines = [line.rstrip() for line in out.splitlines() if line.startswith("remote:")]
    assert remote_lines[-1] == f"remote:        {url}", out  # the push ends with the URL
    assert via_traefik(platform, app["slug"]).text == "hello v1"
    ops = edge.get(f"{API}/apps/{app['id']}/deployments", headers=carol.headers).json()["items"]
    assert (ops[0]["trigger"], ops[0]["commit_sha"], ops[0]["commit_author"]) == (
        "push",
        first,
        "Berth Tests",
    )

    second = commit(work, web_app_files("v2"), "v2")
    hammer = Hammer(platform, app["slug"])
    hammer.start()
    try:
        wait_for(lambda: len(hammer.answers) >= 20, 30, "requests before the push")
        code, out = push(work, remote, "main")
        assert code == 0, out
        assert f"remote: =====> Deployed {second[:12]}" in out
        wait_for(lambda: [b for _, b in hammer.answers][-1:] == ["hello v2"], 30, "v2 answering")
        seen = len(hammer.answers)
        wait_for(lambda: len(hammer.answers) >= seen + 20, 30, "requests after the switch")
    finally:
        hammer.stopped.set()
        hammer.join(10)
    failures = [a for a in hammer.answers if a[0] != 200]
    assert failures == [], failures[:5]
    assert {b for _, b in hammer.answers} == {"hello v1", "hello v2"}
    assert get_app(edge, carol, app["id"])["current_release"]["commit_sha"] == second

    # neither the token nor the commit author's email is in any platform log
    logs = b"".join(p.read_bytes() for p in platform.logs.rglob("*") if p.is_file())
    assert made["token"].encode() not in logs
    assert GIT_ENV["GIT_AUTHOR_EMAIL"].encode() not in logs


def test_wrong_tokens_and_other_peoples_tokens_are_refused(edge, platform, carol, bob, tmp_path):
    app = create_app(edge, carol, None)
    bobs_app = create_app(edge, bob, None)
    bobs = token_for(edge, bob, bobs_app["id"])
    carols = token_for(edge, carol, app["id"])
    work = make_repo(tmp_path / "work", web_app_files("v1"))
    remote_url = f"{platform.public_url}/git/{app['slug']}.git"

    for token in ("bdt_" + uuid.uuid4().hex, bobs["token"]):
        code, out = push(work, with_token(remote_url, token), "main")
        assert code != 0 and "Authentication failed" in out, out
    # bob sees nothing of carol's app or tokens
    r = edge.get(f"{API}/apps/{app['id']}/deploy-tokens", headers=bob.headers)
    assert r.status_code == 404
    assert (
        edge.get(f"{API}/apps/{app['id']}/operations", headers=carol.headers).json()["items"] == []
    )

    # an apps host never reaches the git remote, with any token
    r = httpx.get(
        f"{platform.public_url}/git/{app['slug']}.git/info/refs",
        params={"service": "git-upload-pack"},
        headers={"Host": f"{app['slug']}.apps.localhost"},
        auth=("git", carols["token"]),
        timeout=10,
    )
    assert r.status_code == 404 and "git" not in r.headers.get("content-type", "")


def test_a_push_to_another_branch_only_stores_it(edge, platform, carol, tmp_path):
    app = create_app(edge, carol, None)
    made = token_for(edge, carol, app["id"])
    work = make_repo(tmp_path / "work", web_app_files("v1"))
    code, out = push(work, with_token(made["remote_url"], made["token"]), "main:feature")
    assert code == 0, out
    assert "remote: -----> feature: stored (not the app's deployed branch" in out
    assert (
        edge.get(f"{API}/apps/{app['id']}/operations", headers=carol.headers).json()["items"] == []
    )
    assert get_app(edge, carol, app["id"])["status"] == "created"

    # the branch is there: a clone with the token gets it back
    clone = tmp_path / "clone"
    done = subprocess.run(
        [
            "git",
            "clone",
            "-q",
            "-b",
            "feature",
            with_token(made["remote_url"], made["token"]),
            str(clone),
        ],
        env={**GIT_ENV, "GIT_TERMINAL_PROMPT": "0", "PATH": os.environ["PATH"]},
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert git(clone, "rev-parse", "HEAD") == git(work, "rev-parse", "HEAD")


def test_the_panel_shows_the_remote_and_makes_shows_once_and_revokes_tokens(
    platform, register_verified, tmp_path
):
    if "frontend" not in platform.processes:
        pytest.skip("the frontend is not part of this platform run (BERTH_E2E_SERVICES)")
    slug = f"push-{uuid.uuid4().hex[:8]}"
    with WebClient(platform.public_url) as web:
        web.login(register_verified(), PASSWORD)
        created = web.htmx_post(
            "/partials/apps",
            {"template": "python-web", "slug": slug, "branch": "main"},
            page="/panel/apps/new",
        )
        assert created.status_code == 200, created.text[:2000]
        app_id = re.search(r"/panel/apps/([0-9a-f-]{36})", created.headers["hx-push-url"]).group(1)
        page = f"/panel/apps/{app_id}"
        assert "Push to deploy" in web.get(page).text

        section = web.htmx_get(f"/partials/apps/{app_id}/push", page=page).text
        remote_url = f"{platform.public_url}/git/{slug}.git"
        assert f"git remote add berth {remote_url}" in html.unescape(section)
        assert "git push berth main" in section and "No deploy tokens yet." in section

        made = web.htmx_post(f"/partials/apps/{app_id}/deploy-tokens", {"name": "laptop"}, page)
        assert made.status_code == 200, made.text[:2000]
        token = re.search(r'id="secret-value">(bdt_[A-Za-z0-9_-]+)<', made.text).group(1)
        again = web.htmx_get(f"/partials/apps/{app_id}/push", page=page).text
        assert token not in again and token[:12] in again and "laptop" in again

        work = make_repo(tmp_path / "work", web_app_files("v1"))
        code, out = push(work, with_token(remote_url, token), "main:feature")
        assert code == 0 and "feature: stored" in out, out
        token_id = re.search(r"/deploy-tokens/([0-9a-f-]{36})/revoke", again).group(1)
        revoked = web.htmx_post(
            f"/partials/apps/{app_id}/deploy-tokens/{token_id}/revoke", {}, page
        )
        assert "Token revoked" in revoked.text and token[:12] not in revoked.text
        code, out = push(work, with_token(remote_url, token), "main:other")
        assert code != 0 and "Authentication failed" in out
