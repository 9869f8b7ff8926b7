"""An app an admin suspends holds its previews too: the running ones are suspended with it,
none is made, deployed or started meanwhile (by a push, a webhook or the owner), and the
admin's unsuspension brings back those it suspended."""

import uuid

from deploy_testkit import commit, git, make_repo, web_app_files
from fixtures_deploy import API, app_state, deployed

from berth_deploy.autodeploy.events import BranchChange, BranchEvent, Outcome
from berth_deploy.autodeploy.router import on_branch_event
from berth_deploy.enums import OperationTrigger, SourceKind
from berth_deploy.models import App


async def test_an_admin_suspension_of_an_app_holds_its_previews(
    deploy_http, deploy_app, deploy_node, deploy_settings, person, tmp_path
):
    repo = make_repo(tmp_path / "repo", web_app_files("v1"))
    git(repo, "checkout", "-q", "-b", "topic")
    sha = commit(repo, web_app_files("v2"), "the branch's change")
    git(repo, "checkout", "-q", "main")
    ada, admin = person(), person(["admin"])
    app = await deployed(deploy_http, deploy_node, ada, repo)
    base = f"{API}/apps/{app['id']}"
    r = await deploy_http.patch(base, json={"previews_enabled": True}, headers=ada.headers)
    assert r.status_code == 200, r.text
    r = await deploy_http.post(f"{base}/previews", json={"branch": "topic"}, headers=ada.headers)
    assert r.status_code == 202, r.text
    preview = r.json()["preview"]
    await deploy_node.run_all(uuid.UUID(preview["id"]))
    assert (await app_state(deploy_http, ada, preview["id"]))["status"] == "running"

    r = await deploy_http.post(
        f"{API}/admin/apps/{app['id']}/suspend", json={"reason": "phishing"}, headers=admin.headers
    )
    assert r.status_code == 202, r.text
    for app_id in (app["id"], preview["id"]):
        await deploy_node.run_all(uuid.UUID(app_id))
        assert (await app_state(deploy_http, ada, app_id))["status"] == "suspended"

    # the owner cannot run the content elsewhere meanwhile: no preview made, deployed, started
    for branch in ("topic", "other"):
        r = await deploy_http.post(f"{base}/previews", json={"branch": branch}, headers=ada.headers)
        assert r.status_code == 409, r.text
    r = await deploy_http.post(f"{API}/apps/{preview['id']}/deployments", headers=ada.headers)
    assert r.status_code == 409, r.text
    async with deploy_app.state.db.sessionmaker() as session, session.begin():
        parent = await session.get(App, uuid.UUID(app["id"]))
        event = BranchEvent(
            BranchChange.PUSHED, "pushed", OperationTrigger.WEBHOOK, SourceKind.REPO, sha
        )
        routed = await on_branch_event(session, deploy_settings, parent, event)
    assert routed.outcome == Outcome.NOT_DEPLOYABLE and routed.app_id is None
    r = await deploy_http.get(f"{base}/previews", headers=ada.headers)
    assert [p["id"] for p in r.json()] == [preview["id"]]

    r = await deploy_http.post(f"{API}/admin/apps/{app['id']}/unsuspend", headers=admin.headers)
    assert r.status_code == 202, r.text
    for app_id in (app["id"], preview["id"]):
        await deploy_node.run_all(uuid.UUID(app_id))
        assert (await app_state(deploy_http, ada, app_id))["status"] == "running"
