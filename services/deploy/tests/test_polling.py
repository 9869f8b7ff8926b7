"""Polling an app's remote: due apps are claimed once, `git ls-remote` runs in the app's sandbox,
a commit the app has not seen is deployed (trigger poll), and a failure leaves the owner a
sentence."""

import asyncio
import uuid

import pytest
from deploy_testkit import commit, git, make_repo, web_app_files
from fixtures_deploy import API, app_state, new_app
from sqlalchemy import func, select, update

from berth_deploy.models import App, Operation
from berth_deploy.polling import service as polling


@pytest.fixture
def repo(tmp_path):
    return make_repo(tmp_path / "repo", web_app_files("v1"))


async def polled_app(http, who, repo, **fields):
    app = await new_app(http, who, repo, **fields)
    r = await http.patch(
        f"{API}/apps/{app['id']}", json={"poll_interval_seconds": 60}, headers=who.headers
    )
    assert r.status_code == 200, r.text
    return app


async def deploys(deploy_app, app_id: str) -> list[tuple[str, str, str]]:
    async with deploy_app.state.db.sessionmaker() as session:
        rows = await session.execute(
            select(Operation.trigger, Operation.commit_sha, Operation.status)
            .where(Operation.app_id == uuid.UUID(app_id), Operation.kind == "deploy")
            .order_by(Operation.created_at)
        )
        return [tuple(r) for r in rows]


async def make_due(deploy_app, app_id: str) -> None:
    async with deploy_app.state.db.sessionmaker() as session, session.begin():
        await session.execute(
            update(App)
            .where(App.id == uuid.UUID(app_id))
            .values(polled_at=func.now() - func.make_interval(0, 0, 0, 0, 0, 0, 61))
        )


async def test_a_new_commit_is_polled_and_deployed_once(
    deploy_http, deploy_app, deploy_node, person, repo
):
    ada = person()
    app = await polled_app(deploy_http, ada, repo)
    first = (await app_state(deploy_http, ada, app["id"]))["polled_at"]
    assert first is None
    assert await polling.poll_due(deploy_node.ctx) >= 1
    found = await deploys(deploy_app, app["id"])
    assert [(t, s) for t, s, _ in found] == [("poll", git(repo, "rev-parse", "HEAD"))]
    state = await app_state(deploy_http, ada, app["id"])
    assert state["polled_at"] is not None and state["poll_error"] is None

    # not due again before its interval; due again with nothing new: nothing deployed
    await polling.poll_due(deploy_node.ctx)
    await make_due(deploy_app, app["id"])
    await polling.poll_due(deploy_node.ctx)
    assert len(await deploys(deploy_app, app["id"])) == 1

    head = commit(repo, {"note.txt": "new"}, "a new commit")
    await make_due(deploy_app, app["id"])
    await polling.poll_due(deploy_node.ctx)
    found = await deploys(deploy_app, app["id"])
    assert [(t, s) for t, s, _ in found][-1] == ("poll", head) and len(found) == 2


async def test_two_pollers_never_claim_one_app_twice(deploy_http, deploy_app, person, repo):
    ada = person()
    apps = [await polled_app(deploy_http, ada, repo) for _ in range(3)]

    async def claim():
        async with deploy_app.state.db.sessionmaker() as session, session.begin():
            return [t.app_id for t in await polling.claim_due(session, 50)]

    claims = await asyncio.gather(*(claim() for _ in range(4)))
    ours = {uuid.UUID(a["id"]) for a in apps}
    taken = [app_id for batch in claims for app_id in batch if app_id in ours]
    assert sorted(taken) == sorted(ours)  # each exactly once


async def test_a_failed_poll_tells_the_owner_and_deploys_nothing(
    deploy_http, deploy_app, deploy_node, person, repo
):
    ada = person()
    app = await polled_app(deploy_http, ada, repo, branch="no-such-branch")
    await polling.poll_due(deploy_node.ctx)
    state = await app_state(deploy_http, ada, app["id"])
    assert state["poll_error"] == "the branch was not found in the repository"
    assert await deploys(deploy_app, app["id"]) == []


async def test_apps_with_auto_deploy_off_are_not_polled(deploy_http, deploy_app, person, repo):
    ada = person()
    app = await polled_app(deploy_http, ada, repo)
    r = await deploy_http.patch(
        f"{API}/apps/{app['id']}", json={"auto_deploy": False}, headers=ada.headers
    )
    assert r.status_code == 200
    async with deploy_app.state.db.sessionmaker() as session, session.begin():
        claimed = [t.app_id for t in await polling.claim_due(session, 500)]
    assert uuid.UUID(app["id"]) not in claimed


async def test_a_poll_answered_after_the_branch_changed_deploys_nothing(
    deploy_http, deploy_app, deploy_node, person, repo
):
    """The owner moves the app to another branch (or repository) while its poll runs: the
    commit found is the old branch's, so it is neither deployed nor kept."""
    ada = person()
    app = await polled_app(deploy_http, ada, repo)
    async with deploy_app.state.db.sessionmaker() as session, session.begin():
        [target] = [
            t for t in await polling.claim_due(session, 500) if t.app_id == uuid.UUID(app["id"])
        ]
    sha = await polling.remote_head(deploy_node.ctx, target)
    r = await deploy_http.patch(
        f"{API}/apps/{app['id']}", json={"branch": "dev"}, headers=ada.headers
    )
    assert r.status_code == 200, r.text
    routed = await deploy_node.ctx.tx(
        polling.record, settings=deploy_node.ctx.settings, target=target, sha=sha, error=None
    )
    assert routed is None
    assert await deploys(deploy_app, app["id"]) == []
    async with deploy_app.state.db.sessionmaker() as session:
        assert (await session.get(App, uuid.UUID(app["id"]))).polled_commit_sha is None


async def test_a_tick_skips_while_an_earlier_one_still_polls(
    deploy_http, deploy_app, deploy_node, person, repo
):
    """Ticks that overlap (slow remotes) would each hold a worker slot of the deploy queue:
    one polls at a time, the others return at once without claiming anything."""
    from berth_deploy.polling.dao import try_tick_lock

    ada = person()
    app = await polled_app(deploy_http, ada, repo)
    engine = deploy_app.state.db.engine
    async with engine.connect() as earlier, earlier.begin():
        assert await try_tick_lock(earlier)
        assert await polling.poll_tick(deploy_node.ctx, engine) is None
        assert (await app_state(deploy_http, ada, app["id"]))["polled_at"] is None
    assert await polling.poll_tick(deploy_node.ctx, engine) >= 1
    assert (await app_state(deploy_http, ada, app["id"]))["polled_at"] is not None
    async with engine.connect() as after, after.begin():  # the tick let go of it
        assert await try_tick_lock(after)


def test_a_tick_may_take_as_long_as_its_batch_needs(deploy_settings):
    """A full batch of remotes that each answer at the last moment fits in the tick's limit
    (the limit killed a tick of the default batch two rounds early)."""
    limit = polling.tick_time_limit(deploy_settings)
    rounds = -(-deploy_settings.poll_batch // polling.PARALLEL)
    assert limit >= rounds * deploy_settings.poll_timeout_seconds
