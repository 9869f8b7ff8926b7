"""`git push` to Berth: deploy tokens, the smart HTTP remote (a real git client through a real
Traefik to the deploy app served by uvicorn), and what a push may and may not do."""

import asyncio
import base64
import stat
import uuid

import httpx
import pytest
from deploy_testkit import GIT_ENV, commit, make_repo, web_app_files
from deploy_testkit import git as git_sync
from fixtures_deploy import API, app_state, ask, build_log, new_app, until
from gitpush_kit import (
    add_random_file,
    bare_refs,
    create_token,
    git,
    remote,
    serve,
    slug,
)

from berth_deploy.main import create_app
from berth_deploy.sandbox.git import hosted_repo
from berth_testing.people import sql
from berth_testing.plugin import trust_keys

PUSH_MAX = 256 * 1024
REPO_MAX = 400 * 1024


@pytest.fixture(scope="module")
async def git_server(deploy_settings, deploy_traefik, public_jwks):
    settings = deploy_settings.model_copy(
        update={
            "push_max_bytes": PUSH_MAX,
            "repo_max_bytes": REPO_MAX,
            "push_wait_seconds": 120.0,
            "deploy_tokens_per_app": 3,
            "pushes_per_app": 1,
        }
    )
    app = create_app(settings)
    trust_keys(app, public_jwks)
    server, url = await serve(app, deploy_traefik.url, deploy_traefik.dynamic_dir)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        yield url, http, settings
    server.should_exit = True
    await server.task


async def _pushable(http, who, tmp_path, **fields):
    app = await new_app(http, who, None, slug=slug(), **fields)
    token = (await create_token(http, who, app["id"]))["token"]
    work = make_repo(tmp_path / f"work-{uuid.uuid4().hex[:6]}", web_app_files("v1"))
    return app, token, work


async def test_tokens_are_made_listed_and_revoked_by_the_owner_only(git_server, person):
    _, http, settings = git_server
    ada, bob = person(), person()
    app = await new_app(http, ada, None, slug=slug())

    made = await create_token(http, ada, app["id"], "laptop")
    assert made["token"].startswith("bdt_") and len(made["token"]) > 40
    assert made["prefix"] == made["token"][:12] and made["name"] == "laptop"
    assert made["remote_url"].endswith(f"/git/{app['slug']}.git")

    listed = (await http.get(f"{API}/apps/{app['id']}/deploy-tokens", headers=ada.headers)).json()
    assert [(t["id"], t["name"], t["prefix"]) for t in listed] == [
        (made["id"], "laptop", made["prefix"])
    ]
    assert "token" not in listed[0] and made["token"] not in str(listed)

    # someone else sees nothing of it, and can neither add nor revoke
    for call in (
        http.get(f"{API}/apps/{app['id']}/deploy-tokens", headers=bob.headers),
        http.post(f"{API}/apps/{app['id']}/deploy-tokens", json={"name": "x"}, headers=bob.headers),
        http.delete(f"{API}/apps/{app['id']}/deploy-tokens/{made['id']}", headers=bob.headers),
    ):
        r = await call
        assert r.status_code == 404, r.text
        assert r.json()["error"]["code"] == "not_found"

    # at most deploy_tokens_per_app live tokens
    for name in ("ci", "desktop"):
        await create_token(http, ada, app["id"], name)
    r = await http.post(
        f"{API}/apps/{app['id']}/deploy-tokens", json={"name": "one more"}, headers=ada.headers
    )
    assert r.status_code == 409 and r.json()["error"]["code"] == "too_many_deploy_tokens"
    bad = await http.post(
        f"{API}/apps/{app['id']}/deploy-tokens", json={"name": "a\nb"}, headers=ada.headers
    )
    assert bad.status_code == 422

    r = await http.delete(f"{API}/apps/{app['id']}/deploy-tokens/{made['id']}", headers=ada.headers)
    assert r.status_code == 204
    again = await http.delete(
        f"{API}/apps/{app['id']}/deploy-tokens/{made['id']}", headers=ada.headers
    )
    assert again.status_code == 404
    listed = (await http.get(f"{API}/apps/{app['id']}/deploy-tokens", headers=ada.headers)).json()
    assert made["id"] not in [t["id"] for t in listed] and len(listed) == 2
    assert settings.deploy_tokens_per_app == 3


async def test_git_refuses_anything_but_a_live_token_of_that_app(git_server, person, tmp_path):
    url, http, _ = git_server
    ada, bob = person(), person()
    app, token, work = await _pushable(http, ada, tmp_path)
    bobs_app, bobs_token, _ = await _pushable(http, bob, tmp_path)
    refs = f"{url}/git/{app['slug']}.git/info/refs?service=git-receive-pack"

    def basic(user: str, password: str) -> dict[str, str]:
        return {
            "Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()
        }

    async with httpx.AsyncClient(timeout=30) as client:
        answers = [
            await client.get(refs),
            await client.get(refs, headers=basic("git", "bdt_wrong")),
            await client.get(refs, headers=basic("git", bobs_token)),  # another app's token
            await client.get(refs, headers={"Authorization": f"Bearer {token}"}),
            await client.get(
                f"{url}/git/no-such-app.git/info/refs?service=git-receive-pack",
                headers=basic("git", token),
            ),
        ]
        for r in answers:
            assert r.status_code == 401, r.text
            assert r.headers["www-authenticate"].startswith("Basic ")
            assert r.json() == answers[0].json()  # an unknown app looks like a wrong token
        ok = await client.get(refs, headers=basic("anything", token))
        assert ok.status_code == 200
        assert ok.headers["content-type"] == "application/x-git-receive-pack-advertisement"
        dumb = await client.get(f"{url}/git/{app['slug']}.git/info/refs", headers=basic("g", token))
        assert dumb.status_code == 400

    # the real client: a wrong token and B's token are refused, nothing is stored
    for secret in ("bdt_wrong", bobs_token):
        result = await git(work, "push", remote(url, app["slug"], secret), "main")
        assert result.code != 0 and "Authentication failed" in result.output, result.output
    assert bare_refs(hosted_repo(git_server[2].hosted_repos_dir, app["id"])) == {}
    assert bare_refs(hosted_repo(git_server[2].hosted_repos_dir, bobs_app["id"])) == {}

    # a revoked token no longer works
    listed = (await http.get(f"{API}/apps/{app['id']}/deploy-tokens", headers=ada.headers)).json()
    await http.delete(
        f"{API}/apps/{app['id']}/deploy-tokens/{listed[0]['id']}", headers=ada.headers
    )
    result = await git(work, "push", remote(url, app["slug"], token), "main:feature")
    assert result.code != 0 and "Authentication failed" in result.output


async def test_a_push_to_another_branch_only_stores_it(git_server, deploy_node, person, tmp_path):
    url, http, settings = git_server
    ada = person()
    app, token, work = await _pushable(http, ada, tmp_path)
    sha = git_sync(work, "rev-parse", "HEAD")
    result = await git(work, "push", remote(url, app["slug"], token), "main:feature")
    assert result.code == 0, result.output
    assert "remote: -----> feature: stored (not the app's deployed branch" in result.output
    assert bare_refs(hosted_repo(settings.hosted_repos_dir, app["id"])) == {
        "refs/heads/feature": sha
    }
    ops = (await http.get(f"{API}/apps/{app['id']}/operations", headers=ada.headers)).json()
    assert ops["items"] == []
    # and it can be fetched back with the token (builds fetch one exact commit this way)
    clone = tmp_path / "clone"
    fetched = await git(
        tmp_path, "clone", "-q", "-b", "feature", remote(url, app["slug"], token), str(clone)
    )
    assert fetched.code == 0, fetched.output
    assert git_sync(clone, "rev-parse", "HEAD") == sha

    # deleting the app deletes its repository on Berth
    await http.delete(f"{API}/apps/{app['id']}", headers=ada.headers)
    await deploy_node.run_all(uuid.UUID(app["id"]))
    assert not hosted_repo(settings.hosted_repos_dir, app["id"]).exists()


async def test_tags_and_other_refs_are_refused(git_server, person, tmp_path):
    url, http, settings = git_server
    app, token, work = await _pushable(http, person(), tmp_path)
    git_sync(work, "tag", "v1")
    target = remote(url, app["slug"], token)
    tag = await git(work, "push", target, "v1")
    assert tag.code != 0
    assert "only branches can be pushed to Berth" in tag.output, tag.output
    other = await git(work, "push", target, "main:refs/notes/x")
    assert other.code != 0 and "only branches can be pushed" in other.output
    assert bare_refs(hosted_repo(settings.hosted_repos_dir, app["id"])) == {}


async def test_force_pushes_follow_the_apps_setting(git_server, person, tmp_path):
    url, http, settings = git_server
    app, token, work = await _pushable(http, person(), tmp_path)
    target = remote(url, app["slug"], token)
    assert (await git(work, "push", target, "main:feature")).code == 0
    git_sync(work, "commit", "-q", "--amend", "-m", "rewritten")
    rewritten = git_sync(work, "rev-parse", "HEAD")

    refused = await git(work, "push", "--force", target, "main:feature")
    assert refused.code != 0
    assert "force pushes are off for this app" in refused.output, refused.output
    repo = hosted_repo(settings.hosted_repos_dir, app["id"])
    assert bare_refs(repo)["refs/heads/feature"] != rewritten

    await sql(
        git_server[1]._transport.app.state.db.sessionmaker,
        "UPDATE deploy.apps SET allow_force_push = true WHERE id = :id",
        id=uuid.UUID(app["id"]),
    )
    allowed = await git(work, "push", "--force", target, "main:feature")
    assert allowed.code == 0, allowed.output
    assert bare_refs(repo)["refs/heads/feature"] == rewritten
    # deleting a branch other than the deployed one is allowed (previews go that way)
    deleted = await git(work, "push", target, ":feature")
    assert deleted.code == 0, deleted.output
    assert "refs/heads/feature" not in bare_refs(repo)


async def test_pushes_and_the_repository_are_bounded(git_server, person, tmp_path):
    url, http, settings = git_server
    app, token, work = await _pushable(http, person(), tmp_path)
    target = remote(url, app["slug"], token)
    repo = hosted_repo(settings.hosted_repos_dir, app["id"])

    add_random_file(work, "big.bin", PUSH_MAX + 64 * 1024)
    too_big = await git(work, "push", target, "main:big")
    assert too_big.code != 0
    assert "big" not in str(bare_refs(repo)), too_big.output

    git_sync(work, "reset", "-q", "--hard", "HEAD~1")
    add_random_file(work, "part1.bin", 200 * 1024)
    assert (await git(work, "push", target, "main:one")).code == 0
    add_random_file(work, "part2.bin", 220 * 1024)
    full = await git(work, "push", target, "main:two")
    assert full.code != 0
    assert "over this platform's limit" in full.output, full.output
    assert "refs/heads/two" not in bare_refs(repo)


async def test_a_push_cannot_place_or_run_hooks(git_server, person, tmp_path):
    url, http, settings = git_server
    app, token, work = await _pushable(http, person(), tmp_path)
    target = remote(url, app["slug"], token)
    proof = tmp_path / "hook-ran"
    evil = f"#!/bin/sh\ntouch {proof}\n"
    commit(work, {"hooks/post-receive": evil, "hooks/pre-receive": evil})
    assert (await git(work, "push", target, "main:feature")).code == 0

    repo = hosted_repo(settings.hosted_repos_dir, app["id"])
    assert not (repo / "hooks").exists()  # made without the template's hooks; a push adds none
    # even a hook planted in the repository by other means is not git's to run: the
    # platform's hooks directory is the only one (core.hooksPath), and it is read-only
    (repo / "hooks").mkdir()
    for name in ("pre-receive", "post-receive", "update"):
        (repo / "hooks" / name).write_text(evil)
        (repo / "hooks" / name).chmod(0o755)
    commit(work, {"more.txt": "x"})
    assert (await git(work, "push", target, "main:feature")).code == 0
    assert not proof.exists()
    hooks = settings.hosted_repos_dir / ".hooks"
    assert stat.S_IMODE(hooks.stat().st_mode) == 0o555
    assert all(not p.stat().st_mode & 0o222 for p in hooks.iterdir())


async def test_a_push_to_the_apps_branch_deploys_and_streams_the_build(
    git_server, deploy_node, person, tmp_path
):
    url, http, _ = git_server
    ada = person()
    app, token, work = await _pushable(http, ada, tmp_path)

    # a push-only app deployed before anything is pushed fails, and says why
    await ask(http, ada, app["id"], "deploy")
    await deploy_node.run_all(uuid.UUID(app["id"]))
    state = await app_state(http, ada, app["id"])
    assert state["status"] == "failed"
    assert "nothing has been pushed" in state["status_reason"]

    sha = git_sync(work, "rev-parse", "HEAD")
    push = asyncio.create_task(git(work, "push", remote(url, app["slug"], token), "main"))

    async def queued():
        ops = (await http.get(f"{API}/apps/{app['id']}/operations", headers=ada.headers)).json()
        return [o for o in ops["items"] if o["status"] == "queued"]

    op = (await until(queued, attempts=300))[0]
    assert (op["trigger"], op["commit_sha"], op["commit_author"]) == ("push", sha, "Berth Tests")
    # while that push waits on its deploy, the app takes no more than pushes_per_app (1)
    second = await git(work, "push", remote(url, app["slug"], token), "main:other")
    assert second.code != 0 and "429" in second.output, second.output
    await deploy_node.run_all(uuid.UUID(app["id"]))
    result = await push
    assert result.code == 0, result.output
    out = result.output
    assert f"remote: -----> main {sha[:12]}: deploying" in out
    assert "remote: -----> Building" in out
    assert "commit " + sha in out  # the build log's own lines
    assert f"remote: =====> Deployed {sha[:12]}" in out
    assert f"remote:        http://{app['slug']}.apps.localhost" in out
    assert "tests@berth.localhost" not in out
    state = await app_state(http, ada, app["id"])
    assert state["status"] == "running" and state["current_release"]["commit_sha"] == sha
    assert any(sha in line for line in await build_log(http, ada, state))


async def test_a_push_whose_client_goes_away_still_deploys(
    git_server, deploy_node, person, tmp_path
):
    url, http, _ = git_server
    ada = person()
    app, token, work = await _pushable(http, ada, tmp_path)
    sha = git_sync(work, "rev-parse", "HEAD")
    env = {**GIT_ENV, "GIT_TERMINAL_PROMPT": "0", "GIT_ASKPASS": "/bin/false"}
    client = await asyncio.create_subprocess_exec(
        "git",
        "-C",
        str(work),
        "push",
        remote(url, app["slug"], token),
        "main",
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
        env=env,
    )

    async def queued():
        ops = (await http.get(f"{API}/apps/{app['id']}/operations", headers=ada.headers)).json()
        return ops["items"]

    op = (await until(queued, attempts=300))[0]
    client.kill()  # the person pushing closes their laptop while the deploy waits to run
    await client.wait()
    await deploy_node.run_all(uuid.UUID(app["id"]))
    r = await http.get(f"{API}/apps/{app['id']}/operations/{op['id']}", headers=ada.headers)
    assert r.json()["status"] == "succeeded", r.text
    state = await app_state(http, ada, app["id"])
    assert state["status"] == "running" and state["current_release"]["commit_sha"] == sha


async def test_a_push_whose_build_fails_ends_with_the_reason(
    git_server, deploy_node, person, tmp_path
):
    url, http, _ = git_server
    ada = person()
    app, token, work = await _pushable(
        http, ada, tmp_path, build_command="echo compiling && exit 3"
    )
    push = asyncio.create_task(git(work, "push", remote(url, app["slug"], token), "main"))

    async def queued():
        ops = (await http.get(f"{API}/apps/{app['id']}/operations", headers=ada.headers)).json()
        return ops["items"]

    await until(queued, attempts=300)
    await deploy_node.run_all(uuid.UUID(app["id"]))
    result = await push
    assert result.code == 0, result.output  # the commit is stored; the deploy failed
    lines = [line.strip() for line in result.output.splitlines() if line.startswith("remote:")]
    assert any(line.endswith("compiling") for line in lines), result.output
    failed = [line for line in lines if "=====> Deploy failed:" in line]
    assert failed and "exit" in failed[0].lower(), result.output
    assert lines[-1].startswith("remote:        Details in the panel: http://")
    assert (await app_state(http, ada, app["id"]))["status"] == "failed"
