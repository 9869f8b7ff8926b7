"""Billing's suspension of an owner: running apps are suspended (reason "billing"), nothing
starts meanwhile, and unsuspension brings back only what billing suspended; events that
arrive out of order do not undo a newer one."""

import uuid
from datetime import UTC, datetime, timedelta

from deploy_testkit import make_repo, web_app_files
from fixtures_deploy import API, app_state, ask, new_app, outbox_events

from berth_deploy import suspension
from berth_deploy.models import OwnerStanding


def at(minutes: int) -> str:
    return (datetime(2030, 1, 1, tzinfo=UTC) + timedelta(minutes=minutes)).isoformat()


async def test_suspend_and_unsuspend_an_owner(deploy_http, deploy_node, person, tmp_path):
    repo = make_repo(tmp_path / "repo", web_app_files("v1"))
    ada, admin = person(), person(["admin"])
    running, stopped, by_admin = [await new_app(deploy_http, ada, repo) for _ in range(3)]
    for app in (running, stopped, by_admin):
        await ask(deploy_http, ada, app["id"], "deploy")
        await deploy_node.run_all(uuid.UUID(app["id"]))
    await ask(deploy_http, ada, stopped["id"], "stop")
    await deploy_node.run_all(uuid.UUID(stopped["id"]))
    r = await deploy_http.post(
        f"{API}/admin/apps/{by_admin['id']}/suspend", json={"reason": "spam"}, headers=admin.headers
    )
    assert r.status_code == 202
    await deploy_node.run_all(uuid.UUID(by_admin["id"]))

    payload = {"owner_id": str(ada.id), "reason": "balance below zero", "suspended_at": at(1)}
    await deploy_node.ctx.tx(suspension.account_suspended, payload=payload)
    await deploy_node.run_all(uuid.UUID(running["id"]))
    detail = await app_state(deploy_http, ada, running["id"])
    assert (detail["status"], detail["suspended_by"]) == ("suspended", "billing")
    assert (await app_state(deploy_http, ada, stopped["id"]))["status"] == "stopped"
    refused = await deploy_http.post(f"{API}/apps/{stopped['id']}/start", headers=ada.headers)
    assert refused.json()["error"]["code"] == "account_suspended"
    keys = [key for key, _ in await outbox_events(deploy_node, running["id"])]
    assert keys == ["deploy.instance.started", "deploy.instance.suspended"]

    # an older unsuspension, delivered late, changes nothing
    stale = {"owner_id": str(ada.id), "unsuspended_at": at(0)}
    await deploy_node.ctx.tx(suspension.account_unsuspended, payload=stale)
    ops = await deploy_http.get(f"{API}/apps/{running['id']}/operations", headers=ada.headers)
    assert [o["kind"] for o in ops.json()["items"]] == ["suspend", "deploy"]

    fresh = {"owner_id": str(ada.id), "unsuspended_at": at(2)}
    await deploy_node.ctx.tx(suspension.account_unsuspended, payload=fresh)
    await deploy_node.run_all(uuid.UUID(running["id"]))
    assert (await app_state(deploy_http, ada, running["id"]))["status"] == "running"
    assert (await app_state(deploy_http, ada, by_admin["id"]))["status"] == "suspended"

    async def standing(session):
        return await session.get(OwnerStanding, ada.id)

    assert (await deploy_node.ctx.tx(standing)).suspended is False
