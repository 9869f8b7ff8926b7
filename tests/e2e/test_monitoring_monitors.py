"""Monitors through Traefik and the gateway with real processes: a person adds a monitor of a
127.0.0.2 target (the one network the tests open) and sees it in their list; a private target
is refused before anything is saved; a heartbeat push URL works without signing in, an unknown
one is a 404; another person sees none of it; the panel adds and lists one; the worker makes
and keeps an app's monitor from deploy's and billing's events on the broker."""

import uuid
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from billing_e2e import publish_deploy_events
from deploy_e2e import sign_in
from frontend_web import WebClient
from support import PASSWORD

from berth_testing.processes import wait_until

API = "/api/monitoring/v1"


def test_a_monitor_added_through_the_edge_shows_in_the_list(edge: httpx.Client, register_verified):
    alice = sign_in(edge, register_verified())
    r = edge.post(
        f"{API}/monitors",
        json={"kind": "http", "name": "shop", "url": "http://127.0.0.2:8999/health"},
        headers=alice.headers,
    )
    assert r.status_code == 201, r.text
    made = r.json()
    r = edge.get(f"{API}/monitors", headers=alice.headers)
    assert r.status_code == 200, r.text
    listed = r.json()
    assert [m["id"] for m in listed["items"]] == [made["id"]]
    assert listed["items"][0]["url"] == "http://127.0.0.2:8999/health"
    assert listed["counts"]["total"] == 1

    for url in ("http://169.254.169.254/latest/", "http://127.0.0.1:8080/", "http://10.0.0.1/"):
        r = edge.post(
            f"{API}/monitors",
            json={"kind": "http", "name": "x", "url": url},
            headers=alice.headers,
        )
        assert r.status_code == 422 and r.json()["error"]["code"] == "target_refused", url
    assert edge.get(f"{API}/monitors", headers=alice.headers).json()["total"] == 1

    bob = sign_in(edge, register_verified())
    assert edge.get(f"{API}/monitors/{made['id']}", headers=bob.headers).status_code == 404
    assert edge.get(f"{API}/monitors", headers=bob.headers).json()["total"] == 0


def test_a_heartbeat_push_url_is_public_and_a_wrong_one_is_not_found(
    edge: httpx.Client, platform, register_verified
):
    alice = sign_in(edge, register_verified())
    r = edge.post(
        f"{API}/monitors", json={"kind": "heartbeat", "name": "backup"}, headers=alice.headers
    )
    assert r.status_code == 201, r.text
    monitor = r.json()
    path = httpx.URL(monitor["push_url"]).path
    assert path.startswith(f"{API}/heartbeat/")
    # no token, no cookie: the secret in the path is the key
    with httpx.Client(base_url=str(edge.base_url), timeout=20) as anonymous:
        assert anonymous.post(path).status_code == 200
        assert anonymous.get(path).status_code == 200
        r = anonymous.post(f"{API}/heartbeat/{'x' * 43}")
        assert r.status_code == 404 and r.json()["error"]["code"] == "not_found"
        # the rest of the API still needs a sign-in
        assert anonymous.get(f"{API}/monitors").status_code == 401
    r = edge.get(f"{API}/monitors/{monitor['id']}", headers=alice.headers)
    assert r.json()["last_beat_at"] is not None
    # the token is a secret: the service's log does not show it (Traefik's router for these
    # URLs has its access log off: deploy/traefik/dynamic/monitoring.yml)
    token = path.rsplit("/", 1)[1]
    assert token not in platform.processes["monitoring"].log_path.read_text()


def test_the_panel_adds_a_monitor_and_lists_it(platform, register_verified):
    if "frontend" not in platform.processes:
        pytest.skip("the frontend is not part of this platform run (BERTH_E2E_SERVICES)")
    with WebClient(platform.public_url) as web:
        web.login(register_verified(), PASSWORD)
        form = web.get("/panel/monitoring/new")
        assert form.status_code == 200 and 'id="new-monitor-form"' in form.text
        refused = web.htmx_post(
            "/partials/monitoring",
            {"kind": "http", "name": "metadata", "url": "http://169.254.169.254/"},
            page="/panel/monitoring/new",
        )
        assert refused.status_code == 200 and "not a public address" in refused.text
        added = web.htmx_post(
            "/partials/monitoring",
            {"kind": "tcp", "name": "local db", "host": "127.0.0.2", "port": "5432"},
            page="/panel/monitoring/new",
        )
        assert added.status_code == 200, added.text[:500]
        assert added.headers["HX-Push-Url"].startswith("/panel/monitoring/")
        listed = web.get("/panel/monitoring")
        assert listed.status_code == 200 and "local db" in listed.text
        assert "127.0.0.2:5432" in listed.text and "data-unavailable=" not in listed.text


def _managed(edge: httpx.Client, who) -> list[dict]:
    r = edge.get(f"{API}/monitors", params={"managed": True}, headers=who.headers)
    assert r.status_code == 200, r.text
    return r.json()["items"]


def test_the_worker_keeps_an_apps_monitor_from_deploy_and_billing_events(
    edge: httpx.Client, platform, register_verified
):
    alice = sign_in(edge, register_verified())
    app_id, instance_id = str(uuid.uuid4()), str(uuid.uuid4())
    now = datetime.now(UTC)
    started = {
        "instance_id": instance_id,
        "app_id": app_id,
        "app_slug": "shop",
        "app_name": "Shop",
        "owner_id": alice.id,
        "plan_key": "web-small",
        "started_at": now.isoformat(),
        "release_id": str(uuid.uuid4()),
        "process_type": "web",
        "hostname": "shop.apps.localhost",
        "health": {"type": "http", "path": "/healthz", "method": "GET", "timeout_seconds": 5},
    }
    operation = {
        "operation_id": str(uuid.uuid4()),
        "app_id": app_id,
        "app_slug": "shop",
        "owner_id": alice.id,
        "kind": "deploy",
        "origin": "user",
        "release_id": None,
        "started_at": now.isoformat(),
    }
    publish_deploy_events(
        platform.env["BROKER_URL"],
        [("deploy.operation.started", operation), ("deploy.instance.started", started)],
    )
    wait_until(lambda: len(_managed(edge, alice)) == 1, 30, "the app's monitor")
    wait_until(lambda: _managed(edge, alice)[0]["mute_reason"] == "deploy", 30, "deploy mute")
    (monitor,) = _managed(edge, alice)
    assert (monitor["kind"], monitor["host"], monitor["url"]) == (
        "app_http",
        "shop.apps.localhost",
        "/healthz",
    )
    assert monitor["suppressed"] is None

    later = (now + timedelta(seconds=5)).isoformat()
    publish_deploy_events(
        platform.env["BROKER_URL"],
        [("billing.account.suspended", {"owner_id": alice.id, "suspended_at": later})],
    )
    wait_until(lambda: _managed(edge, alice)[0]["suppressed"] == "app_suspended", 30, "suspension")
