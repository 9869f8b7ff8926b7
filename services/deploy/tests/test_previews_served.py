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
