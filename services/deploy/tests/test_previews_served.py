"""A preview built from its branch answers through Traefik at `<slug>--<branch>.apps…` next
to its app, and its route goes with it."""

import uuid

import httpx
from deploy_testkit import commit, git, make_repo, web_app_files
from fixtures_deploy import API, app_state, deployed

from berth_deploy.sandbox.routes import PREFIX


def through(traefik, slug: str) -> httpx.Response:
    return httpx.get(traefik.url, headers={"Host": f"{slug}.apps.localhost"}, timeout=10)


async def test_a_preview_answers_with_its_branch_and_goes_with_it(
    deploy_http, deploy_node, deploy_traefik, person, tmp_path
):
    repo = make_repo(tmp_path / "repo", web_app_files("v1"))
    git(repo, "checkout", "-q", "-b", "feature/Shiny_Thing")
    commit(repo, web_app_files("v2"), "the branch's change")
    git(repo, "checkout", "-q", "main")
    ada = person()
    env = [{"name": "GREETING", "value": "from-parent"}]
    app = await deployed(deploy_http, deploy_node, ada, repo, env=env)
    assert through(deploy_traefik, app["slug"]).text == "hello v1 from-parent"

    r = await deploy_http.post(
        f"{API}/apps/{app['id']}/previews",
        json={"branch": "feature/Shiny_Thing"},
        headers=ada.headers,
    )
    assert r.status_code == 202, r.text
    preview, op = r.json()["preview"], r.json()["operation"]
    assert (op["kind"], op["trigger"], op["commit_sha"]) == ("deploy", "preview", None)
    assert preview["slug"].startswith(f"{app['slug']}--feature-shiny-thing--")
    await deploy_node.run_all(uuid.UUID(preview["id"]))
    state = await app_state(deploy_http, ada, preview["id"])
    assert state["status"] == "running", state
    assert through(deploy_traefik, preview["slug"]).text == "hello v2 from-parent"
    assert through(deploy_traefik, app["slug"]).text == "hello v1 from-parent"
    # asked again for the same branch: the same preview, redeployed
    r = await deploy_http.post(
        f"{API}/apps/{app['id']}/previews",
        json={"branch": "feature/Shiny_Thing"},
        headers=ada.headers,
    )
    assert r.status_code == 202 and r.json()["preview"]["id"] == preview["id"]
    await deploy_node.run_all(uuid.UUID(preview["id"]))

    r = await deploy_http.delete(
        f"{API}/apps/{app['id']}/previews/{preview['id']}", headers=ada.headers
    )
    assert r.status_code == 202 and r.json()["kind"] == "delete"
    await deploy_node.run_all(uuid.UUID(preview["id"]))
    assert not (deploy_traefik.dynamic_dir / f"{PREFIX}{preview['slug']}.yml").exists()
    assert (
        await deploy_http.get(f"{API}/apps/{preview['id']}", headers=ada.headers)
    ).status_code == 404
    r = await deploy_http.get(f"{API}/apps/{app['id']}/previews", headers=ada.headers)
    assert r.json() == []
    assert through(deploy_traefik, app["slug"]).text == "hello v1 from-parent"


async def test_a_preview_of_a_branch_pushed_to_berth_builds_that_commit_from_its_apps_repo(
    deploy_app, deploy_http, deploy_node, deploy_settings, deploy_traefik, person, tmp_path
):
    """A `git push` of another branch stores it in the app's repository on Berth: the preview
    (an app of its own, with no repository of its own there) fetches the exact commit from
    its parent's."""
    from berth_deploy.autodeploy.events import BranchChange, BranchEvent, Outcome
    from berth_deploy.enums import OperationTrigger, SourceKind
    from berth_deploy.models import App
    from berth_deploy.previews.service import branch_pushed
    from berth_deploy.sandbox.git import hosted_repo

    work = make_repo(tmp_path / "work", web_app_files("v1"))
    git(work, "checkout", "-q", "-b", "pushed-branch")
    sha = commit(work, web_app_files("v9-pushed"), "pushed to Berth only")
    commit(work, web_app_files("v10-later"), "a later commit the event does not name")
    ada = person()
    app = await deployed(
        deploy_http, deploy_node, ada, make_repo(tmp_path / "r", web_app_files("v1"))
    )
    bare = hosted_repo(deploy_settings.hosted_repos_dir, app["id"])
    bare.parent.mkdir(parents=True, exist_ok=True)
    git(tmp_path, "init", "-q", "--bare", str(bare))
    git(work, "push", "-q", str(bare), "pushed-branch")

    event = BranchEvent(
        BranchChange.PUSHED, "pushed-branch", OperationTrigger.PUSH, SourceKind.HOSTED, sha
    )
    async with deploy_app.state.db.sessionmaker() as session, session.begin():
        parent = await session.get(App, uuid.UUID(app["id"]))
        routed = await branch_pushed(session, deploy_settings, parent, event)
    assert routed.outcome == Outcome.PREVIEW
    await deploy_node.run_all(routed.app_id)
    preview = await app_state(deploy_http, ada, str(routed.app_id))
    assert preview["status"] == "running", preview
    assert preview["current_release"]["commit_sha"] == sha
    assert through(deploy_traefik, preview["slug"]).text == "hello v9-pushed"
