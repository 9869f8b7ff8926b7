"""Every running app is watched with no set-up: a person deploys a static site with the real
deploy service, and monitoring's worker, from deploy's events on the broker, gives it an
app_http monitor of its health path at its hostname, muted through the deploy and its tail;
the owner's stop suppresses it, a start checks it again, deleting the app removes it."""

import httpx
import pytest
from deploy_e2e import deployed, request, wait_operation
from frontend_web import static_site_repo

from berth_testing.processes import wait_until

API = "/api/monitoring/v1"

pytestmark = pytest.mark.usefixtures("deploy_node")


def _monitors_of(edge: httpx.Client, person, app_id: str) -> list[dict]:
    r = edge.get(f"{API}/monitors", params={"managed": True}, headers=person.headers)
    assert r.status_code == 200, r.text
    return [m for m in r.json()["items"] if m["app_id"] == app_id]


def _one(edge, person, app_id: str, check, what: str) -> dict:
    found: dict = {}

    def ready() -> bool:
        monitors = _monitors_of(edge, person, app_id)
        if len(monitors) == 1 and check(monitors[0]):
            found.update(monitors[0])
            return True
        return False

    wait_until(ready, 60, what)
    return found


def test_a_deployed_app_is_watched_and_follows_its_lifecycle(
    edge: httpx.Client, platform, signed_in, tmp_path
):
    if "deploy" not in platform.processes or "monitoring" not in platform.processes:
        pytest.skip("needs deploy and monitoring in this platform run (BERTH_E2E_SERVICES)")
    alice = signed_in()
    app = deployed(
        edge, platform, alice, static_site_repo(tmp_path / "site"), template="static-site"
    )
    monitor = _one(edge, alice, app["id"], lambda m: m["mute_reason"] == "deploy", "monitor")
    assert monitor["kind"] == "app_http" and monitor["managed"] is True
    assert monitor["host"] == f"{app['slug']}.apps.localhost" and monitor["url"].startswith("/")
    assert monitor["suppressed"] is None and monitor["muted_until"] is not None

    op = request(edge, alice, app["id"], "stop")
    assert wait_operation(edge, alice, app["id"], op["id"])["status"] == "succeeded"
    _one(edge, alice, app["id"], lambda m: m["suppressed"] == "app_stopped", "stopped")

    op = request(edge, alice, app["id"], "start")
    assert wait_operation(edge, alice, app["id"], op["id"])["status"] == "succeeded"
    again = _one(edge, alice, app["id"], lambda m: m["suppressed"] is None, "started")
    assert again["id"] == monitor["id"]

    r = edge.delete(f"/api/deploy/v1/apps/{app['id']}", headers=alice.headers)
    assert r.status_code == 202, r.text
    wait_until(lambda: _monitors_of(edge, alice, app["id"]) == [], 120, "monitor removed")
