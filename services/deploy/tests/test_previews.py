"""Preview apps per branch: made once (even by two events at once), named by one DNS label
that never collides, env copied, capped per app, removed with their branch, when idle, or
with their app; routed from the autodeploy router; only their owner sees them."""

import asyncio
import re
import uuid

import pytest
from deploy_testkit import make_repo, web_app_files
from fixtures_deploy import API, app_state, new_app
from sqlalchemy import select, text, update

from berth_deploy.autodeploy.events import BranchChange, BranchEvent, Outcome
from berth_deploy.autodeploy.router import on_branch_event
from berth_deploy.enums import OperationTrigger, SourceKind
from berth_deploy.env.service import EnvCipher, plain_env
from berth_deploy.models import App, Operation
from berth_deploy.previews import service as previews
from berth_deploy.previews.slugs import preview_slug
from berth_deploy.sandbox.routes import route_config

SHA = "a" * 40
LABEL = re.compile(r"^[a-z][a-z0-9-]{1,61}[a-z0-9]$")


@pytest.fixture(scope="module")
def repo(tmp_path_factory):
    return make_repo(tmp_path_factory.mktemp("previews") / "repo", web_app_files("v1"))


def pushed(branch: str, sha: str = SHA, source: SourceKind = SourceKind.REPO) -> BranchEvent:
    return BranchEvent(
        BranchChange.PUSHED, branch, OperationTrigger.WEBHOOK, source, sha, author="Ada"
    )


def gone(branch: str) -> BranchEvent:
    return BranchEvent(BranchChange.DELETED, branch, OperationTrigger.WEBHOOK, SourceKind.REPO)


async def in_tx(deploy_app, fn, *args):
    """fn(session, *args) in a transaction of its own, committed."""
    async with deploy_app.state.db.sessionmaker() as session, session.begin():
        return await fn(session, *args)


async def route(deploy_app, settings, app_id: str, event: BranchEvent, *, direct: bool = False):
    async def call(session):
        parent = await session.get(App, uuid.UUID(app_id))
        if direct:
            handler = previews.branch_pushed
            if event.change == BranchChange.DELETED:
                handler = previews.branch_deleted
            return await handler(session, settings, parent, event)
        return await on_branch_event(session, settings, parent, event)

    return await in_tx(deploy_app, call)


async def set_app(deploy_app, app_id, **values) -> None:
    async def write(session):
        await session.execute(update(App).where(App.id == uuid.UUID(app_id)).values(**values))

    await in_tx(deploy_app, write)


async def listed(deploy_http, who, app_id: str):
    r = await deploy_http.get(f"{API}/apps/{app_id}/previews", headers=who.headers)
    assert r.status_code == 200, r.text
    return r.json()


def test_preview_slugs_are_one_dns_label_that_never_collides():
    parent = "a" * 40  # the longest slug a person can choose
    odd = ["Feature/X", "feature-x", "feature--x", "-feature-x", "FEATURE_X", "é/ü", "x" * 100]
    odd += [f"renovate/{'long-dependency-name-' * 3}{n}" for n in range(3)]
    slugs = [preview_slug(parent, b) for b in odd] + [preview_slug("shop", b) for b in odd]
    assert len(set(slugs)) == len(slugs)
    for slug in slugs:
        assert len(slug) <= 63 and LABEL.match(slug), slug
        route_config(slug, "apps.localhost", 21000, uuid.uuid4())  # the route writer takes it
    assert preview_slug("shop", "feature-x") == "shop--feature-x"  # a clean name is kept
    assert preview_slug("shop", "Feature/X").startswith("shop--feature-x--")
    # nothing but the first `--` separates the parent: a clean branch part holds none
    assert preview_slug("shop", "feature--x").count("--") == 2


async def test_branch_pushed_makes_one_preview_even_twice_at_once(
    deploy_http, deploy_app, deploy_settings, person, repo
):
    ada = person()
    env = [
        {"name": "GREETING", "value": "hi"},
        {"name": "API_KEY", "value": "s3cret", "secret": True},
    ]
    app = await new_app(deploy_http, ada, repo, env=env, build_command="true")
    both = await asyncio.gather(
        route(deploy_app, deploy_settings, app["id"], pushed("feature/login"), direct=True),
        route(deploy_app, deploy_settings, app["id"], pushed("feature/login"), direct=True),
    )
    assert {r.outcome for r in both} == {Outcome.PREVIEW}
    assert both[0].app_id == both[1].app_id

    [preview] = await listed(deploy_http, ada, app["id"])
    assert preview["id"] == str(both[0].app_id)
    assert preview["slug"] == preview_slug(app["slug"], "feature/login")
    assert preview["slug"].startswith(f"{app['slug']}--feature-login--")
    assert (preview["parent_app_id"], preview["preview_branch"]) == (app["id"], "feature/login")
    assert (preview["owner_id"], preview["branch"]) == (str(ada.id), "feature/login")
    for field in ("template", "repo_url", "build_command", "run_command", "limits"):
        assert preview[field] == app[field], field
    assert preview["url"] == app["url"].replace(app["slug"], preview["slug"], 1)

    # env copied: the plain value shown, the secret stays write-only, both decrypt as before
    r = await deploy_http.get(f"{API}/apps/{preview['id']}/env", headers=ada.headers)
    assert {(v["name"], v["value"], v["secret"]) for v in r.json()} == {
        ("GREETING", "hi", False),
        ("API_KEY", None, True),
    }
    cipher = EnvCipher.from_settings(deploy_settings)
    values = await in_tx(deploy_app, plain_env, cipher, uuid.UUID(preview["id"]))
    assert values.values == {"GREETING": "hi", "API_KEY": "s3cret"}

    # each event queued a deploy of its commit: the second superseded the first
    r = await deploy_http.get(f"{API}/apps/{preview['id']}/operations", headers=ada.headers)
    ops = r.json()["items"]
    assert [(o["kind"], o["trigger"], o["commit_sha"]) for o in ops] == [
        ("deploy", "preview", SHA),
        ("deploy", "preview", SHA),
    ]
    assert sorted(o["status"] for o in ops) == ["queued", "superseded"]
    assert ops[0]["commit_author"] == "Ada"


async def test_previews_are_capped_per_app_and_not_counted_in_the_quota(
    deploy_http, deploy_app, deploy_settings, person, repo
):
    ada = person()
    app = await new_app(deploy_http, ada, repo)
    capped = deploy_settings.model_copy(update={"previews_per_app": 2})
    for branch in ("one", "two"):
        routed = await route(deploy_app, capped, app["id"], pushed(branch), direct=True)
        assert routed.outcome == Outcome.PREVIEW
    third = await route(deploy_app, capped, app["id"], pushed("three"), direct=True)
    assert third.outcome == Outcome.IGNORED and third.app_id is None
    assert "already has 2 previews" in third.reason
    # the same branch again is a redeploy, not a new preview
    again = await route(deploy_app, capped, app["id"], pushed("two", "b" * 40), direct=True)
    assert again.outcome == Outcome.PREVIEW
    assert sorted(p["preview_branch"] for p in await listed(deploy_http, ada, app["id"])) == [
        "one",
        "two",
    ]
    # the API's cap is the service's (5): three more, then one by hand is over it
    for branch in ("three", "four", "five"):
        routed = await route(deploy_app, deploy_settings, app["id"], pushed(branch), direct=True)
        assert routed.outcome == Outcome.PREVIEW
    r = await deploy_http.post(
        f"{API}/apps/{app['id']}/previews", json={"branch": "six"}, headers=ada.headers
    )
    assert r.status_code == 409 and r.json()["error"]["code"] == "preview_limit"
    assert r.json()["error"]["details"] == {"limit": 5, "previews": 5}

    # the apps list marks previews; the quota (5 on the fallback) counts only real apps
    r = await deploy_http.get(f"{API}/apps", headers=ada.headers)
    marked = {a["slug"]: a["parent_app_id"] for a in r.json()["items"]}
    assert marked[app["slug"]] is None
    assert sorted(v for k, v in marked.items() if k != app["slug"]) == [app["id"]] * 5
    for _ in range(4):
        await new_app(deploy_http, ada, repo)
    r = await deploy_http.post(
        f"{API}/apps",
        json={
            "slug": f"t-{uuid.uuid4().hex[:8]}",
            "template": "python-web",
            "repo_url": app["repo_url"],
        },
        headers=ada.headers,
    )
    assert r.status_code == 409 and r.json()["error"]["details"]["apps"] == 5


async def test_branches_that_cannot_be_previewed_are_ignored(
    deploy_http, deploy_app, deploy_settings, person, repo
):
    ada = person()
    app = await new_app(deploy_http, ada, repo)
    for branch in ("main", "bad..name", "x" * 120, "line\nbreak"):
        routed = await route(deploy_app, deploy_settings, app["id"], pushed(branch), direct=True)
        assert routed.outcome == Outcome.IGNORED and routed.reason, branch
    assert await listed(deploy_http, ada, app["id"]) == []
    for body in ({"branch": "main"}, {"branch": "a..b"}, {"branch": ""}, {}, {"branch": 3}):
        r = await deploy_http.post(
            f"{API}/apps/{app['id']}/previews", json=body, headers=ada.headers
        )
        assert r.status_code == 422, (body, r.text)
        assert "error" in r.json()
    # an app that installs from a registry has no previews
    n8n = await new_app(deploy_http, ada, None, template="n8n")
    routed = await route(deploy_app, deploy_settings, n8n["id"], pushed("dev"), direct=True)
    assert routed.outcome == Outcome.IGNORED


async def test_branch_deleted_removes_its_preview(
    deploy_http, deploy_app, deploy_node, deploy_settings, person, repo
):
    ada = person()
    app = await new_app(deploy_http, ada, repo)
    made = await route(deploy_app, deploy_settings, app["id"], pushed("topic"), direct=True)
    await route(deploy_app, deploy_settings, app["id"], pushed("other"), direct=True)
    removed = await route(deploy_app, deploy_settings, app["id"], gone("topic"), direct=True)
    assert (removed.outcome, removed.app_id) == (Outcome.PREVIEW_REMOVED, made.app_id)
    assert (await app_state(deploy_http, ada, str(made.app_id)))["status"] == "deleting"
    assert [p["preview_branch"] for p in await listed(deploy_http, ada, app["id"])] == ["other"]
    await deploy_node.run_all(made.app_id)
    r = await deploy_http.get(f"{API}/apps/{made.app_id}", headers=ada.headers)
    assert r.status_code == 404
    nothing = await route(deploy_app, deploy_settings, app["id"], gone("topic"), direct=True)
    assert nothing.outcome == Outcome.IGNORED
    # the branch pushed again: a new preview under the same name
    again = await route(deploy_app, deploy_settings, app["id"], pushed("topic"), direct=True)
    assert again.outcome == Outcome.PREVIEW and again.app_id != made.app_id


async def test_idle_and_orphaned_previews_expire(
    deploy_http, deploy_app, deploy_settings, person, repo
):
    ada = person()
    app = await new_app(deploy_http, ada, repo)
    await set_app(deploy_app, app["id"], preview_idle_days=3)
    idle = await route(deploy_app, deploy_settings, app["id"], pushed("idle"), direct=True)
    fresh = await route(deploy_app, deploy_settings, app["id"], pushed("fresh"), direct=True)

    async def age(session, app_id, days):
        when = text(f"now() - interval '{days} days'")
        await session.execute(update(App).where(App.id == app_id).values(created_at=when))
        await session.execute(
            update(Operation).where(Operation.app_id == app_id).values(created_at=when)
        )

    await in_tx(deploy_app, age, idle.app_id, 4)
    await in_tx(deploy_app, age, fresh.app_id, 2)
    asked = await in_tx(deploy_app, previews.expire_previews)
    assert asked >= 1
    assert (await app_state(deploy_http, ada, str(idle.app_id)))["status"] == "deleting"
    assert (await app_state(deploy_http, ada, str(fresh.app_id)))["status"] != "deleting"
    r = await deploy_http.get(f"{API}/apps/{idle.app_id}/operations", headers=ada.headers)
    assert r.json()["items"][0]["kind"] == "delete"
    # a second run finds it on its way out and asks nothing again
    await in_tx(deploy_app, previews.expire_previews)
    r = await deploy_http.get(f"{API}/apps/{idle.app_id}/operations", headers=ada.headers)
    assert [o["kind"] for o in r.json()["items"]].count("delete") == 1


async def test_deleting_an_app_deletes_its_previews(
    deploy_http, deploy_app, deploy_settings, person, repo
):
    ada = person()
    app = await new_app(deploy_http, ada, repo)
    made = [
        await route(deploy_app, deploy_settings, app["id"], pushed(b), direct=True)
        for b in ("p1", "p2")
    ]
    r = await deploy_http.delete(f"{API}/apps/{app['id']}", headers=ada.headers)
    assert r.status_code == 202
    for routed in made:
        assert (await app_state(deploy_http, ada, str(routed.app_id)))["status"] == "deleting"

    async def statuses(session):
        rows = await session.execute(select(App.status).where(App.parent_app_id == app["id"]))
        return sorted(rows.scalars())

    assert await in_tx(deploy_app, statuses) == ["deleting", "deleting"]


async def test_another_person_cannot_see_or_touch_previews(
    deploy_http, deploy_app, deploy_settings, person, repo
):
    ada, bob = person(), person()
    app = await new_app(deploy_http, ada, repo)
    made = await route(deploy_app, deploy_settings, app["id"], pushed("secret-work"), direct=True)
    base = f"{API}/apps/{app['id']}/previews"
    assert (await deploy_http.get(base, headers=bob.headers)).status_code == 404
    r = await deploy_http.post(base, json={"branch": "x"}, headers=bob.headers)
    assert r.status_code == 404
    r = await deploy_http.delete(f"{base}/{made.app_id}", headers=bob.headers)
    assert r.status_code == 404 and r.json()["error"]["code"] == "not_found"
    assert (
        await deploy_http.get(f"{API}/apps/{made.app_id}", headers=bob.headers)
    ).status_code == 404
    r = await deploy_http.get(f"{API}/apps", headers=bob.headers)
    assert r.json()["items"] == []
    # Bob's own app cannot name Ada's preview as its own
    own = await new_app(deploy_http, bob, repo)
    r = await deploy_http.delete(
        f"{API}/apps/{own['id']}/previews/{made.app_id}", headers=bob.headers
    )
    assert r.status_code == 404
    assert (await app_state(deploy_http, ada, str(made.app_id)))["status"] == "queued"
    assert (await deploy_http.get(base)).status_code == 401


async def test_the_autodeploy_router_drives_previews(
    deploy_http, deploy_app, deploy_settings, person, repo
):
    ada = person()
    app = await new_app(deploy_http, ada, repo)
    off = await route(deploy_app, deploy_settings, app["id"], pushed("feature"))
    assert off.outcome == Outcome.IGNORED  # previews are off by default
    await set_app(deploy_app, app["id"], previews_enabled=True)
    hosted = pushed("feature", source=SourceKind.HOSTED)
    made = await route(deploy_app, deploy_settings, app["id"], hosted)
    assert made.outcome == Outcome.PREVIEW and made.operation_id is not None
    r = await deploy_http.get(f"{API}/apps/{made.app_id}/operations", headers=ada.headers)
    [op] = r.json()["items"]
    assert (op["id"], op["trigger"], op["commit_sha"]) == (str(made.operation_id), "preview", SHA)
    # a preview follows nothing itself
    child = await route(deploy_app, deploy_settings, str(made.app_id), pushed("x"))
    assert child.outcome == Outcome.IGNORED
    # its branch going removes it, even once previews were turned off
    await set_app(deploy_app, app["id"], previews_enabled=False)
    removed = await route(deploy_app, deploy_settings, app["id"], gone("feature"))
    assert (removed.outcome, removed.app_id) == (Outcome.PREVIEW_REMOVED, made.app_id)


async def test_a_preview_is_an_app_whose_branch_stays(
    deploy_http, deploy_app, deploy_settings, person, repo
):
    ada = person()
    app = await new_app(deploy_http, ada, repo)
    made = await route(deploy_app, deploy_settings, app["id"], pushed("topic"), direct=True)
    url = f"{API}/apps/{made.app_id}"
    r = await deploy_http.patch(url, json={"branch": "main"}, headers=ada.headers)
    assert r.status_code == 422 and r.json()["error"]["details"]["field"] == "branch"
    r = await deploy_http.patch(url, json={"name": "topic preview"}, headers=ada.headers)
    assert r.status_code == 200 and r.json()["preview_branch"] == "topic"
    r = await deploy_http.put(f"{url}/env/ONLY_HERE", json={"value": "1"}, headers=ada.headers)
    assert r.status_code in (200, 201, 204), r.text
    r = await deploy_http.get(f"{API}/apps/{app['id']}/env", headers=ada.headers)
    assert r.json() == []  # the preview's env is its own
