"""Apps through the API: created from a template with its defaults, listed and filtered,
changed, refused when the input is wrong, and never shown to anyone but their owner."""

import uuid
from datetime import datetime, timedelta

import pytest
from deploy_testkit import make_repo, web_app_files
from fixtures_deploy import API, new_app
from sqlalchemy import func, select, update

from berth_deploy.models import App
from berth_testing.oauth import bearer, mint_access_token
from berth_testing.plugin import app_client, trust_keys


@pytest.fixture(scope="module")
def repo(tmp_path_factory):
    return make_repo(tmp_path_factory.mktemp("apps") / "repo", web_app_files("v1"))


async def test_an_app_takes_its_defaults_from_the_template(deploy_http, person, repo):
    ada = person()
    app = await new_app(deploy_http, ada, repo, template="static-site")
    assert app["status"] == "created"
    assert app["name"] == app["slug"]
    assert app["owner_id"] == str(ada.id)
    assert app["limits"] == {"memory_mb": 128, "cpu_millis": 250, "pids_max": 32}
    assert app["url"].startswith(f"http://{app['slug']}.apps.localhost")
    assert app["current_release"] is None and app["instances"] == []

    worker = await new_app(deploy_http, ada, repo, template="worker", limits={"memory_mb": 512})
    assert worker["url"] is None
    assert worker["limits"]["memory_mb"] == 512


async def test_list_filters_and_pages_only_the_owners_apps(deploy_http, person, repo):
    ada, bob = person(), person()
    mine = [await new_app(deploy_http, ada, repo, name=f"site {i}") for i in range(3)]
    await new_app(deploy_http, ada, repo, template="worker", name="the bot")
    await new_app(deploy_http, bob, repo)

    r = await deploy_http.get(f"{API}/apps", params={"size": 2}, headers=ada.headers)
    page = r.json()
    assert (page["total"], page["pages"], len(page["items"])) == (4, 2, 2)
    r = await deploy_http.get(f"{API}/apps", params={"template": "worker"}, headers=ada.headers)
    assert [a["name"] for a in r.json()["items"]] == ["the bot"]
    r = await deploy_http.get(
        f"{API}/apps", params={"q": "site", "sort": "name"}, headers=ada.headers
    )
    assert [a["id"] for a in r.json()["items"]] == [a["id"] for a in mine]
    r = await deploy_http.get(f"{API}/apps", params={"sort": "owner_id"}, headers=ada.headers)
    assert r.status_code == 422
    r = await deploy_http.get(f"{API}/apps", params={"status": "nonsense"}, headers=ada.headers)
    assert r.status_code == 422


async def test_others_get_404_for_every_part_of_an_app(deploy_http, person, repo):
    ada, bob = person(), person()
    app = await new_app(deploy_http, ada, repo)
    base = f"{API}/apps/{app['id']}"
    responses = [
        await deploy_http.get(base, headers=bob.headers),
        await deploy_http.patch(base, json={"name": "x"}, headers=bob.headers),
        await deploy_http.delete(base, headers=bob.headers),
        await deploy_http.post(f"{base}/deployments", headers=bob.headers),
        await deploy_http.post(f"{base}/rollback", headers=bob.headers),
        await deploy_http.get(f"{base}/releases", headers=bob.headers),
        await deploy_http.get(f"{base}/logs", headers=bob.headers),
        await deploy_http.get(f"{base}/env", headers=bob.headers),
        await deploy_http.delete(f"{base}/env/X", headers=bob.headers),
    ]
    assert {r.status_code for r in responses} == {404}
    assert (await deploy_http.get(base, headers=ada.headers)).status_code == 200


async def test_admin_routes_need_the_admin_role_in_the_service_too(deploy_http, person):
    assert (await deploy_http.get(f"{API}/admin/apps", headers=person().headers)).status_code == 403
    admin = person(["admin"])
    assert (await deploy_http.get(f"{API}/admin/apps", headers=admin.headers)).status_code == 200


async def test_machine_clients_cannot_own_apps(deploy_http, signing_jwks):
    import os

    token = mint_access_token(
        signing_jwks,
        issuer=os.environ["BERTH_PUBLIC_URL"],
        subject="svc-billing",
        client_id="svc-billing",
        scope="deploy:read",
    )
    r = await deploy_http.get(f"{API}/apps", headers=bearer(token))
    assert r.status_code == 403


async def test_update_checks_what_it_changes(deploy_http, person, repo):
    ada = person()
    app = await new_app(deploy_http, ada, repo)
    base = f"{API}/apps/{app['id']}"
    r = await deploy_http.patch(
        base, json={"branch": "release", "limits": {"cpu_millis": 1000}}, headers=ada.headers
    )
    assert r.status_code == 200, r.text
    assert (r.json()["branch"], r.json()["limits"]["cpu_millis"]) == ("release", 1000)
    assert r.json()["updated_at"] > app["updated_at"]
    for bad in (
        {"repo_url": "ssh://host/repo"},
        {"branch": None},
        {"limits": {"memory_mb": 10**6}},
        {"slug": "renamed"},
    ):
        r = await deploy_http.patch(base, json=bad, headers=ada.headers)
        assert r.status_code == 422, (bad, r.text)


async def test_templates_decide_whether_a_repository_is_needed(deploy_http, person, repo):
    ada = person()
    for body in (
        {"template": "n8n", "repo_url": f"file://{repo}"},
        {"template": "unknown"},
    ):
        r = await deploy_http.post(
            f"{API}/apps", json={"slug": f"t-{uuid.uuid4().hex[:8]}", **body}, headers=ada.headers
        )
        assert r.status_code == 422, (body, r.text)
    n8n = await new_app(deploy_http, ada, None, template="n8n")
    assert (n8n["repo_url"], n8n["limits"]["memory_mb"]) == (None, 1024)
    # a template that builds from a repository without one: a push-only app (`git push`)
    pushed = await new_app(deploy_http, ada, None, template="python-web")
    assert pushed["repo_url"] is None


async def test_local_repositories_need_the_admin_setting(
    deploy_settings, public_jwks, person, repo
):
    from berth_deploy.main import create_app

    strict = create_app(deploy_settings.model_copy(update={"local_repos_dir": None}))
    async with app_client(strict) as client:
        trust_keys(strict, public_jwks)
        body = {"slug": f"t-{uuid.uuid4().hex[:8]}", "template": "python-web"}
        r = await client.post(
            f"{API}/apps", json={**body, "repo_url": f"file://{repo}"}, headers=person().headers
        )
        assert r.status_code == 422
        assert r.json()["error"]["code"] == "repo_not_allowed"
        r = await client.post(
            f"{API}/apps",
            json={**body, "repo_url": "https://git.example/owner/repo.git"},
            headers=person().headers,
        )
        assert r.status_code == 201


async def test_a_deleted_apps_slug_is_held_for_its_owner(
    deploy_http, deploy_app, deploy_node, deploy_settings, person
):
    assert deploy_settings.slug_hold_days == 7
    ada, bob = person(), person()
    slug = f"t-{uuid.uuid4().hex[:10]}"

    async def create(who):
        body = {"slug": slug, "template": "n8n"}
        return await deploy_http.post(f"{API}/apps", json=body, headers=who.headers)

    async def delete(app_id: str) -> None:
        r = await deploy_http.delete(f"{API}/apps/{app_id}", headers=ada.headers)
        assert r.status_code == 202, r.text
        await deploy_node.run_all(uuid.UUID(app_id))
        r = await deploy_http.get(f"{API}/apps/{app_id}", headers=ada.headers)
        assert r.status_code == 404

    first = await create(ada)
    assert first.status_code == 201, first.text
    taken = await create(bob)
    assert taken.status_code == 409 and taken.json()["error"]["code"] == "slug_taken"
    await delete(first.json()["id"])

    held = await create(bob)
    assert held.status_code == 409, held.text
    error = held.json()["error"]
    assert error["code"] == "slug_held"
    async with deploy_app.state.db.sessionmaker() as session:
        deleted_at = (
            await session.execute(
                select(App.deleted_at).where(App.id == uuid.UUID(first.json()["id"]))
            )
        ).scalar_one()
    free_at = datetime.fromisoformat(error["details"]["available_after"])
    assert free_at == deleted_at + timedelta(days=7)

    again = await create(ada)  # its owner takes it back
    assert again.status_code == 201, again.text
    await delete(again.json()["id"])
    assert (await create(bob)).status_code == 409

    async with deploy_app.state.db.sessionmaker() as session, session.begin():
        await session.execute(
            update(App)
            .where(App.slug == slug, App.status == "deleted")
            .values(deleted_at=func.now() - timedelta(days=7, minutes=1))
        )
    after = await create(bob)
    assert after.status_code == 201, after.text
    assert after.json()["owner_id"] == str(bob.id)
