"""Apps per person, set by billing's plans: counted per plan, enforced under concurrency,
and bounded by the fallback when billing cannot answer."""

import asyncio
import json
import uuid

import httpx
import pytest
from deploy_testkit import make_repo, web_app_files
from fixtures_deploy import API

from berth_deploy.plans import PlanCatalog


class Billing:
    """Billing's plan list as its API serves it (GET /api/billing/v1/plans), or an outage."""

    def __init__(self, limits: dict[str, int]):
        self.limits = limits
        self.down = False
        self.asked = 0

    def handle(self, request: httpx.Request) -> httpx.Response:
        assert request.url.path == "/api/billing/v1/plans"
        self.asked += 1
        if self.down:
            raise httpx.ConnectError("connection refused", request=request)
        plans = [
            {"key": k, "name": k, "max_apps_per_owner": n, "amount_per_hour": 2}
            for k, n in self.limits.items()
        ]
        return httpx.Response(200, content=json.dumps(plans).encode())


@pytest.fixture
def serve_plans(deploy_app, deploy_settings):
    """Make the deploy service read its plans from a billing (for the test's duration)."""
    before = deploy_app.state.plan_catalog

    def use(billing: Billing, **settings) -> None:
        client = httpx.AsyncClient(transport=httpx.MockTransport(billing.handle))
        deploy_app.state.plan_catalog = PlanCatalog(
            deploy_settings.model_copy(update=settings), client
        )

    yield use
    deploy_app.state.plan_catalog = before


@pytest.fixture
def billing(serve_plans):
    billing = Billing({"web-small": 2, "n8n-small": 1})
    serve_plans(billing)
    return billing


@pytest.fixture(scope="module")
def repo(tmp_path_factory):
    return make_repo(tmp_path_factory.mktemp("quota") / "repo", web_app_files())


@pytest.fixture
def create(deploy_http, repo):
    """Ask for a new app of `template` as `who`; the answer as it comes."""

    async def make(who, template="python-web"):
        body = {"slug": f"t-{uuid.uuid4().hex[:10]}", "template": template}
        if template == "python-web":
            body["repo_url"] = f"file://{repo}"
        return await deploy_http.post(f"{API}/apps", json=body, headers=who.headers)

    return make


async def test_apps_per_person_are_limited_by_the_plan(
    deploy_http, deploy_node, billing, person, create
):
    ada, bob = person(), person()
    first = await create(ada)
    assert first.status_code == 201, first.text
    assert (await create(ada)).status_code == 201
    over = await create(ada)
    assert over.status_code == 409, over.text
    assert over.json()["error"] == {
        "code": "app_quota_exceeded",
        "message": "The web-small plan allows 2 apps per person and you have 2: delete one, "
        "or ask support for more",
        "details": {"plan": "web-small", "limit": 2, "apps": 2, "limit_source": "billing"},
    }
    # counted per plan and per person
    assert (await create(ada, "n8n")).status_code == 201
    assert (await create(ada, "n8n")).status_code == 409
    assert (await create(bob)).status_code == 201

    # an app being deleted still counts; once deleted, its place is free
    app_id = first.json()["id"]
    assert (
        await deploy_http.delete(f"{API}/apps/{app_id}", headers=ada.headers)
    ).status_code == 202
    assert (await create(ada)).status_code == 409
    await deploy_node.run_all(uuid.UUID(app_id))
    assert (await create(ada)).status_code == 201


async def test_concurrent_creates_cannot_both_take_the_last_place(billing, person, create):
    ada = person()
    assert (await create(ada)).status_code == 201
    answers = await asyncio.gather(*(create(ada) for _ in range(4)))
    assert sorted(r.status_code for r in answers) == [201, 409, 409, 409]


async def test_when_billing_cannot_answer_its_last_answer_stands_then_the_fallback(
    deploy_settings, serve_plans, person, create, monkeypatch
):
    assert deploy_settings.app_quota_fallback == 5
    monkeypatch.setattr("berth_deploy.plans.RETRY_SECONDS", 0.0)
    billing = Billing({"web-small": 2})
    serve_plans(billing, plan_cache_seconds=0)  # every request asks billing again
    ada = person()
    assert (await create(ada)).status_code == 201
    billing.down = True
    assert (await create(ada)).status_code == 201
    over = await create(ada)
    assert over.status_code == 409
    assert over.json()["error"]["details"]["limit_source"] == "billing"  # its last answer
    assert billing.asked == 3

    serve_plans(billing)  # a web process that never heard from billing
    made = [await create(ada) for _ in range(4)]
    assert [r.status_code for r in made] == [201, 201, 201, 409]
    assert made[-1].json()["error"]["details"] == {
        "plan": "web-small",
        "limit": 5,
        "apps": 5,
        "limit_source": "fallback",
    }


async def test_a_plan_billing_has_just_made_is_asked_for_at_once(
    billing, person, create, monkeypatch
):
    monkeypatch.setattr("berth_deploy.plans.RETRY_SECONDS", 0.05)
    ada = person()
    del billing.limits["web-small"]
    assert (await create(ada, "n8n")).status_code == 201  # the list is fresh now
    await asyncio.sleep(0.1)
    billing.limits["web-small"] = 1  # an admin makes the plan; the list is not stale yet
    assert (await create(ada)).status_code == 201
    over = await create(ada)
    assert over.status_code == 409
    assert over.json()["error"]["details"]["limit"] == 1
    assert over.json()["error"]["details"]["limit_source"] == "billing"
