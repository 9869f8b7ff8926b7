"""What monitoring gets from deploy, through the real platform: the operation and instance
events on the broker as a consumer receives them, and the liveness poll through Traefik and
the gateway with a machine client's token (client credentials), while the node supervisor
notices a killed process and brings it back."""

import os
import signal
import uuid

import httpx
import pytest
from deploy_e2e import API, EventTap, deployed, sql
from deploy_testkit import make_repo, wait_for, web_app_files

from berth_testing.oauth import bearer

pytestmark = pytest.mark.usefixtures("deploy_node")


@pytest.fixture(scope="module")
def fay(signed_in):
    return signed_in()


@pytest.fixture(scope="module")
def repo(tmp_path_factory):
    return make_repo(tmp_path_factory.mktemp("repo") / "site", web_app_files("v1"))


def machine_token(edge: httpx.Client, admin_token: str, scopes: list[str]) -> dict[str, str]:
    r = edge.post(
        "/api/auth/v1/admin/clients",
        json={"name": f"monitoring {' '.join(scopes)}", "scopes": scopes},
        headers=bearer(admin_token),
    )
    assert r.status_code == 201, r.text
    client = r.json()
    r = edge.post(
        "/oauth/token",
        data={"grant_type": "client_credentials"},
        auth=(client["client_id"], client["client_secret"]),
    )
    assert r.status_code == 200, r.text
    return bearer(r.json()["access_token"])


def liveness_item(edge: httpx.Client, headers: dict[str, str], instance_id: str) -> dict | None:
    after = None
    while True:
        r = edge.get(f"{API}/liveness", params={"after": after} if after else {}, headers=headers)
        assert r.status_code == 200, r.text
        page = r.json()
        for item in page["items"]:
            if item["instance_id"] == instance_id:
                return item
        if page["next_after"] is None:
            return None
        after = page["next_after"]


def test_monitoring_hears_the_deploy_and_polls_liveness(edge, platform, admin_token, fay, repo):
    tap = EventTap(platform, "deploy.#")
    try:
        app = deployed(edge, platform, fay, f"file://{repo}")
        instance_id = app["instances"][0]["id"]
        events = wait_for(
            lambda: (
                (seen := tap.of_app(app["id"]))
                and [k for k, _ in seen][-1] == "deploy.operation.finished"
                and seen
            ),
            30,
            "the deploy's events on the broker",
        )
    finally:
        tap.close()
    keys = [key for key, _ in events]
    assert keys == [
        "deploy.operation.started",
        "deploy.instance.started",
        "deploy.operation.finished",
    ]
    started = events[1][1]
    assert started["hostname"] == f"{app['slug']}.apps.localhost"
    assert started["process_type"] == "web" and started["health"]["path"] == "/"
    assert events[2][1]["outcome"] == "succeeded"
    assert events[0][1]["operation_id"] == events[2][1]["operation_id"]

    monitoring = machine_token(edge, admin_token, ["deploy:read"])
    # "unknown" while the node's supervisor has not ticked lately (a loaded machine): wait
    # for a tick, then its word must be "alive"
    item = wait_for(
        lambda: (
            (i := liveness_item(edge, monitoring, instance_id)) and i["state"] != "unknown" and i
        ),
        30,
        "the instance, as a ticking supervisor sees it",
    )
    assert item["alive"] is True and item["state"] == "running" and item["restarts"] == 0
    assert item["owner_id"] == fay.id and item["process_type"] == "web"

    # a person (not an admin) and a machine client without deploy:read are refused
    assert edge.get(f"{API}/liveness", headers=fay.headers).status_code == 403
    outsider = machine_token(edge, admin_token, ["billing:read"])
    assert edge.get(f"{API}/liveness", headers=outsider).status_code == 403

    [(pid,)] = sql(
        platform,
        "SELECT pid FROM deploy.instances WHERE id = :id",
        id=uuid.UUID(instance_id),
    )
    os.killpg(pid, signal.SIGKILL)
    down = wait_for(
        lambda: (i := liveness_item(edge, monitoring, instance_id))["state"] == "crashed" and i,
        15,
        "the supervisor to notice the killed process",
    )
    assert down["alive"] is False and down["reason"].endswith("restart pending")
    back = wait_for(
        lambda: (i := liveness_item(edge, monitoring, instance_id))["alive"] and i,
        15,
        "the supervisor to bring the process back",
    )
    assert back["restarts"] == 1 and back["state"] == "running"
