"""An app's automatic-deploy settings through the API: each field validated (422 naming it),
kept as sent, and polling refused for an app without a repository."""

import pytest
from deploy_testkit import make_repo, web_app_files
from fixtures_deploy import API, new_app


@pytest.fixture(scope="module")
def repo(tmp_path_factory):
    return make_repo(tmp_path_factory.mktemp("settings") / "repo", web_app_files("v1"))


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"poll_interval_seconds": 59}, "poll_interval_seconds"),
        ({"poll_interval_seconds": 86_401}, "poll_interval_seconds"),
        ({"poll_interval_seconds": "often"}, "poll_interval_seconds"),
        ({"auto_deploy": None}, "auto_deploy"),
        ({"auto_deploy": "yes please"}, "auto_deploy"),
        ({"previews_enabled": None}, "previews_enabled"),
        ({"preview_idle_days": 0}, "preview_idle_days"),
        ({"preview_idle_days": 91}, "preview_idle_days"),
        ({"allow_force_push": None}, "allow_force_push"),
    ],
)
async def test_auto_deploy_settings_are_validated(deploy_http, person, repo, change, field):
    ada = person()
    app = await new_app(deploy_http, ada, repo)
    r = await deploy_http.patch(f"{API}/apps/{app['id']}", json=change, headers=ada.headers)
    assert r.status_code == 422, r.text
    assert field in r.text


async def test_auto_deploy_settings_are_kept(deploy_http, person, repo):
    ada = person()
    app = await new_app(deploy_http, ada, repo)
    assert (app["auto_deploy"], app["poll_interval_seconds"], app["previews_enabled"]) == (
        True,
        None,
        False,
    )
    change = {
        "auto_deploy": False,
        "allow_force_push": True,
        "poll_interval_seconds": 300,
        "previews_enabled": True,
        "preview_idle_days": 3,
    }
    r = await deploy_http.patch(f"{API}/apps/{app['id']}", json=change, headers=ada.headers)
    assert r.status_code == 200, r.text
    assert {k: r.json()[k] for k in change} == change
    r = await deploy_http.patch(
        f"{API}/apps/{app['id']}", json={"poll_interval_seconds": None}, headers=ada.headers
    )
    assert r.json()["poll_interval_seconds"] is None
    n8n = await new_app(deploy_http, ada, None, template="n8n")
    r = await deploy_http.patch(
        f"{API}/apps/{n8n['id']}", json={"poll_interval_seconds": 60}, headers=ada.headers
    )
    assert r.status_code == 422 and "repository" in r.json()["error"]["message"]
