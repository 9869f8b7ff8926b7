"""The panel's apps over HTTP through Traefik: create from a template, deploy, follow the
status and the logs, env vars, stop and delete; someone else's app is not found; the page
when deploy is down."""

import re
import time

import pytest
from frontend_web import WebClient, static_site_repo
from support import ADMIN_EMAIL, ADMIN_PASSWORD, PASSWORD

pytestmark = pytest.mark.timeout(240)


def needs_deploy(platform) -> None:
    if "deploy" not in platform.processes:
        pytest.skip("deploy is not part of this platform run (BERTH_E2E_SERVICES)")


@pytest.fixture
def web(platform, register_verified):
    with WebClient(platform.public_url) as client:
        client.login(register_verified(), PASSWORD)
        yield client


def wait_for(check, timeout: float = 90.0):
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result or time.monotonic() > deadline:
            return result
        time.sleep(0.5)


def create_site(web: WebClient, tmp_path, slug: str, deploy: bool = True) -> str:
    data = {
        "template": "static-site",
        "slug": slug,
        "name": "My site",
        "repo_url": static_site_repo(tmp_path / slug),
        "branch": "main",
        "env": "GREETING=hello\n",
    }
    if deploy:
        data["deploy_now"] = "on"
    created = web.htmx_post("/partials/apps", data, page="/panel/apps/new")
    assert created.status_code == 200, created.text[:1000]
    assert "created" in created.text, created.text[:3000]
    return re.search(r"/panel/apps/([0-9a-f-]{36})", created.headers["hx-push-url"]).group(1)


def test_create_deploy_and_follow_an_app(platform, web, tmp_path):
    needs_deploy(platform)
    slug = f"site-{int(time.time() * 1000) % 10**8}"
    invalid = web.htmx_post(
        "/partials/apps", {"template": "static-site", "slug": "Bad Slug!"}, "/panel/apps/new"
    )
    assert invalid.status_code == 200 and "field-error" in invalid.text
    app_id = create_site(web, tmp_path, slug)

    def status() -> str:
        html = web.htmx_get(f"/partials/apps/{app_id}/status", page=f"/panel/apps/{app_id}").text
        return re.search(r'data-status="([a-z]+)"', html).group(1)

    final = wait_for(lambda: status() in ("running", "failed") and status())
    logs = web.htmx_get(f"/partials/apps/{app_id}/logs?kind=build", page=f"/panel/apps/{app_id}")
    assert final == "running", logs.text[:3000]
    assert 'id="log-lines"' in logs.text and "log-line" in logs.text
    page = web.get(f"/panel/apps/{app_id}").text
    assert f"{slug}." in page and 'id="app-url"' in page
    env = web.htmx_get(f"/partials/apps/{app_id}/env", page=f"/panel/apps/{app_id}")
    assert "GREETING" in env.text and "hello" in env.text
    secret = web.htmx_post(
        f"/partials/apps/{app_id}/env",
        {"name": "API_TOKEN", "value": "s3cr3t-value", "secret": "on"},
        page=f"/panel/apps/{app_id}",
        target="app-env",
    )
    assert "API_TOKEN saved" in secret.text and "s3cr3t-value" not in secret.text
    listing = web.get("/panel/apps?status=running&sort=name").text
    assert slug in listing and 'aria-sort="ascending"' in listing
    assert 'data-stat="apps-running">1<' in web.get("/panel").text

    stopped = web.htmx_post(f"/partials/apps/{app_id}/stop", page=f"/panel/apps/{app_id}")
    assert "Stop queued." in stopped.text
    assert wait_for(lambda: status() == "stopped")
    deleted = web.htmx_post(f"/partials/apps/{app_id}/delete", page=f"/panel/apps/{app_id}")
    assert "being deleted" in deleted.text
    assert deleted.headers["hx-push-url"] == "/panel/apps"


def test_someone_elses_app_is_not_found(platform, web, register_verified, tmp_path):
    needs_deploy(platform)
    app_id = create_site(web, tmp_path, f"mine-{int(time.time() * 1000) % 10**8}", deploy=False)
    with WebClient(platform.public_url) as stranger:
        stranger.login(register_verified(), PASSWORD)
        assert stranger.get(f"/panel/apps/{app_id}").status_code == 404
        assert stranger.htmx_get(f"/partials/apps/{app_id}/env").status_code == 404
        assert stranger.htmx_post(f"/partials/apps/{app_id}/deploy").status_code == 404
        assert stranger.htmx_post(f"/partials/apps/{app_id}/delete").status_code == 404
    # and the owner's app is untouched
    assert 'data-status="created"' in web.get(f"/panel/apps/{app_id}").text


def test_pages_say_when_deploy_is_down(platform, web):
    needs_deploy(platform)
    platform.processes["deploy"].stop()
    try:
        dashboard = web.get("/panel")
        assert dashboard.status_code == 200
        assert 'data-unavailable="deploy"' in dashboard.text
        assert "App status is unavailable right now" in dashboard.text
        apps = web.htmx_get("/partials/apps", page="/panel/apps")
        assert apps.status_code == 200 and 'data-unavailable="deploy"' in apps.text
    finally:
        platform.start_web("deploy")
    assert 'data-unavailable="deploy"' not in web.get("/panel").text


def test_admin_sees_every_users_apps_and_can_suspend_one(platform, web, tmp_path):
    needs_deploy(platform)
    slug = f"adm-{int(time.time() * 1000) % 10**8}"
    app_id = create_site(web, tmp_path, slug)
    assert web.htmx_get("/admin/partials/apps", page="/admin").status_code == 403
    with WebClient(platform.public_url) as admin:
        admin.login(ADMIN_EMAIL, ADMIN_PASSWORD)
        listing = admin.htmx_get(f"/admin/partials/apps?q={slug}", page="/admin/apps")
        assert listing.status_code == 200 and slug in listing.text
        assert listing.headers["hx-push-url"] == f"/admin/apps?q={slug}"

        def status() -> str:
            html = admin.get(f"/admin/apps/{app_id}").text
            return re.search(r'data-status="([a-z]+)"', html).group(1)

        assert wait_for(lambda: status() == "running")
        suspended = admin.htmx_post(
            f"/admin/partials/apps/{app_id}/suspend", {"reason": "abuse report"}, "/admin/apps"
        )
        assert "Suspension queued" in suspended.text
        assert wait_for(lambda: status() == "suspended")
        # the owner sees it, and cannot start it again
        owner_view = web.get(f"/panel/apps/{app_id}").text
        assert 'data-status="suspended"' in owner_view
        refused = web.htmx_post(f"/partials/apps/{app_id}/start", page=f"/panel/apps/{app_id}")
        assert "notice-error" in refused.text
