"""Quotas and limits, through Traefik with the platform as real processes: apps per person as
billing's plan sets it, and live log streams per person."""

import contextlib
import uuid

import httpx
import pytest
from deploy_e2e import API, create_app, deployed, sign_in
from deploy_testkit import make_repo, wait_for, web_app_files

from berth_testing.oauth import bearer

pytestmark = pytest.mark.usefixtures("deploy_node")


@pytest.fixture(scope="module")
def grace(signed_in):
    return signed_in()


def test_live_log_streams_per_person_are_limited(edge, platform, grace, tmp_path):
    repo = make_repo(tmp_path / "repo", web_app_files("v1"))
    app = deployed(edge, platform, grace, f"file://{repo}")
    url = f"{platform.public_url}{API}/apps/{app['id']}/logs/stream"
    params = {"kind": "run"}  # the app runs: its run log stays open

    with contextlib.ExitStack() as held, httpx.Client(timeout=30) as client:

        def open_stream() -> httpx.Response:
            return held.enter_context(
                client.stream("GET", url, params=params, headers=grace.headers)
            )

        streams = [open_stream() for _ in range(5)]
        assert [s.status_code for s in streams] == [200] * 5
        refused = client.get(url, params=params, headers=grace.headers)
        assert refused.status_code == 429, refused.text
        assert refused.headers["retry-after"] == "5"
        error = refused.json()["error"]
        assert error["code"] == "too_many_log_streams"
        assert error["details"] == {"limit": 5, "open": 5, "retry_after": 5}

        streams[0].close()  # one stream ends: its place is free once the service sees it go

        def another() -> bool:
            with client.stream("GET", url, params=params, headers=grace.headers) as r:
                return r.status_code == 200

        wait_for(another, 15, "a place for a new stream")


def test_apps_per_person_are_limited_by_the_billing_plan(
    edge, platform, grace, register_verified, admin_token
):
    if "billing" not in platform.processes:
        pytest.skip("billing is not part of this platform run (BERTH_E2E_SERVICES)")
    admin = bearer(admin_token)
    plan = f"quota-{uuid.uuid4().hex[:8]}"
    r = edge.post(
        "/api/billing/v1/admin/plans",
        json={"key": plan, "name": "Two apps", "amount_per_hour": 1, "max_apps_per_owner": 2},
        headers=admin,
    )
    assert r.status_code == 201, r.text
    template = {
        "key": plan,
        "name": "Two apps at most",
        "process_type": "worker",
        "build_steps": [],
        "run_command": "sleep infinity",
        "health": {"type": "process", "stable_seconds": 1},
        "rollout": "recreate",
        "needs_repo": False,
        "default_memory_mb": 64,
        "default_cpu_millis": 100,
        "default_pids_max": 16,
        "plan_key": plan,
    }
    r = edge.post(f"{API}/admin/templates", json=template, headers=admin)
    assert r.status_code == 201, r.text

    first = create_app(edge, grace, None, template=plan)
    create_app(edge, grace, None, template=plan)
    r = edge.post(
        f"{API}/apps",
        json={"slug": f"q-{uuid.uuid4().hex[:8]}", "template": plan},
        headers=grace.headers,
    )
    assert r.status_code == 409, r.text
    error = r.json()["error"]
    assert error["code"] == "app_quota_exceeded"
    assert error["details"] == {"plan": plan, "limit": 2, "apps": 2, "limit_source": "billing"}
    # the limit is per person
    with httpx.Client(base_url=edge.base_url, timeout=20) as other_edge:
        henry = sign_in(other_edge, register_verified())
    create_app(edge, henry, None, template=plan)

    r = edge.delete(f"{API}/apps/{first['id']}", headers=grace.headers)
    assert r.status_code == 202, r.text
    wait_for(
        lambda: edge.get(f"{API}/apps/{first['id']}", headers=grace.headers).status_code == 404,
        60,
        "the delete to finish",
    )
    create_app(edge, grace, None, template=plan)  # the deleted app's place is free again
