"""Pages and actions over a stand-in for the services: the dashboard and the landing page ask
through the modules' service layer, each card and each plan shows what it was told, and an
action checks its form before anything is sent."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
from frontend_testkit import StandIn

from berth_frontend.main import create_app
from berth_testing.oauth import mint_access_token
from berth_testing.plugin import app_client, trust_keys

APP = {
    "id": "a1",
    "slug": "shop",
    "name": "Shop",
    "status": "running",
    "url": None,
    "updated_at": None,
}
PLANS = [
    {
        "key": "small",
        "name": "Small",
        "amount_per_hour": 2,
        "currency": "EUR",
        "is_active": True,
        "description": "",
    },
    {
        "key": "gone",
        "name": "Gone",
        "amount_per_hour": 9,
        "currency": "EUR",
        "is_active": False,
        "description": "",
    },
]


def _apps(query: dict[str, str]) -> tuple[int, dict[str, Any]]:
    if query.get("status") == "running":
        return 200, {"items": [APP], "total": 1}
    return 200, {"items": [APP], "total": 3}


ANSWERS: dict[str, Any] = {
    "/api/auth/v1/me": (200, {"name": "Ada", "email": "ada@example.test"}),
    "/api/auth/v1/me/login-history": (
        200,
        {"items": [{"kind": "login", "success": True, "ip": "203.0.113.9", "time": None}]},
    ),
    "/api/billing/v1/account": (200, {"balance": 1250, "currency": "EUR"}),
    "/api/deploy/v1/apps": _apps,
    "/api/billing/v1/plans": (200, PLANS),
}


@asynccontextmanager
async def frontend_over(
    stand_in: StandIn, settings: Any, public_jwks: dict[str, Any]
) -> AsyncIterator[httpx.AsyncClient]:
    url = stand_in.url
    app = create_app(
        settings.model_copy(update={"auth_url": url, "deploy_url": url, "billing_url": url})
    )
    trust_keys(app, public_jwks)
    async with app_client(app, base_url="http://localhost:8080") as client:
        yield client


async def test_the_dashboard_cards_show_what_each_service_said(
    frontend_settings, public_jwks, signing_jwks
):
    with StandIn(dict(ANSWERS)) as stand_in:
        async with frontend_over(stand_in, frontend_settings, public_jwks) as client:
            _sign_in(client, signing_jwks)
            page = await client.get("/panel")
    assert page.status_code == 200, page.text[:300]
    assert 'data-stat="apps-running">1<' in page.text and "of 3 apps" in page.text
    assert 'data-stat="balance">12.50 EUR<' in page.text
    assert "Welcome back, Ada." in page.text and "from 203.0.113.9" in page.text
    assert "data-unavailable=" not in page.text
    for asked in (
        "/api/deploy/v1/apps?size=1&status=running",
        "/api/deploy/v1/apps?size=5&sort=-updated_at",
        "/api/auth/v1/me/login-history?size=5",
        "/api/billing/v1/account",
        "/api/auth/v1/me",
    ):
        assert asked in stand_in.asked, stand_in.asked


async def test_the_landing_page_prices_the_plans_on_sale(frontend_settings, public_jwks):
    with StandIn(dict(ANSWERS)) as stand_in:
        async with frontend_over(stand_in, frontend_settings, public_jwks) as client:
            page = await client.get("/")
    assert page.status_code == 200
    assert 'data-plan="small"' in page.text and 'data-plan="gone"' not in page.text
    assert "0.02 EUR / hour" in page.text and "about 14.60 EUR / month" in page.text
    assert [p for p in stand_in.asked if p.startswith("/api/")] == ["/api/billing/v1/plans"]


async def test_the_landing_page_says_prices_need_sign_in_when_billing_says_so(
    frontend_settings, public_jwks
):
    refused = (401, {"error": {"code": "unauthorized", "message": "Sign in"}})
    with StandIn({"/api/billing/v1/plans": refused}) as stand_in:
        async with frontend_over(stand_in, frontend_settings, public_jwks) as client:
            page = await client.get("/")
    assert page.status_code == 200
    assert "Current prices are shown to signed-in customers" in page.text
    assert "data-plan=" not in page.text


ACCOUNT_ID = "0b6f3c1e-5d2a-4c8e-9f10-2a3b4c5d6e7f"
ACCOUNT = {
    "id": ACCOUNT_ID,
    "owner_id": "3f0c6a52-8d1e-4b8e-9a55-2b0f6c1d7e90",
    "email": "ada@example.test",
    "balance": 1250,
    "currency": "EUR",
    "state": "active",
    "grace_ends_at": None,
}


async def test_an_adjustment_needs_credit_or_debit_before_billing_is_asked(
    frontend_settings, public_jwks, signing_jwks
):
    accounts = f"/api/billing/v1/admin/accounts/{ACCOUNT_ID}"
    answers = {
        accounts: (200, ACCOUNT),
        f"{accounts}/ledger": (200, {"items": [], "total": 0, "page": 1, "size": 20, "pages": 0}),
        f"POST {accounts}/adjustments": (201, {"id": "t1"}),
    }
    url = f"/admin/partials/billing/accounts/{ACCOUNT_ID}/adjust"
    form = {"amount": "5", "currency": "EUR", "reason": "goodwill"}
    with StandIn(answers) as stand_in:
        async with frontend_over(stand_in, frontend_settings, public_jwks) as client:
            _sign_in(client, signing_jwks, roles=["user", "admin"])
            page = (await client.get(f"/admin/billing/accounts/{ACCOUNT_ID}")).text
            headers = {
                "HX-Request": "true",
                "X-CSRF-Token": page.split('"X-CSRF-Token": "')[1][:64],
            }
            sideways = await client.post(
                url, data={**form, "direction": "sideways"}, headers=headers
            )
            assert "Choose credit or debit" in sideways.text
            assert not [a for a in stand_in.asked if a.startswith("POST")]
            credit = await client.post(url, data={**form, "direction": "credit"}, headers=headers)
    assert credit.status_code == 200 and "The account was credited." in credit.text
    assert stand_in.bodies == [
        {"direction": "credit", "amount": 500, "currency": "EUR", "reason": "goodwill"}
    ]


async def test_an_admin_moves_an_account_to_a_tier_on_offer(
    frontend_settings, public_jwks, signing_jwks
):
    accounts = f"/api/billing/v1/admin/accounts/{ACCOUNT_ID}"
    changes = [
        {
            "id": "c1",
            "account_id": ACCOUNT_ID,
            "from_tier": "standard",
            "to_tier": "pro",
            "changed_by": "admin:a1",
            "reason": "annual <b>deal</b>",
            "changed_at": "2026-11-30T09:00:00Z",
        }
    ]
    answers = {
        "/api/auth/v1/me": (200, {"name": "Ada", "email": "ada@example.test"}),
        accounts: (200, {**ACCOUNT, "tier": "pro"}),
        f"{accounts}/ledger": (200, {"items": [], "total": 0, "page": 1, "size": 20, "pages": 0}),
        "/api/billing/v1/admin/account-tiers": (
            200,
            {"tiers": ["standard", "pro", "business"], "default": "standard"},
        ),
        f"{accounts}/tier-changes": (200, {"items": changes, "total": 1, "page": 1, "size": 10}),
        f"PUT {accounts}/tier": (200, {"tier": "business", "changed": True}),
    }
    url = f"/admin/partials/billing/accounts/{ACCOUNT_ID}/tier"
    with StandIn(answers) as stand_in:
        async with frontend_over(stand_in, frontend_settings, public_jwks) as client:
            _sign_in(client, signing_jwks, roles=["user", "admin"])
            page = (await client.get(f"/admin/billing/accounts/{ACCOUNT_ID}")).text
            headers = {
                "HX-Request": "true",
                "X-CSRF-Token": page.split('"X-CSRF-Token": "')[1][:64],
            }
            bad = await client.post(url, data={"tier": "Gold Plan!"}, headers=headers)
            assert "Choose one of the tiers on offer." in bad.text
            assert not [a for a in stand_in.asked if a.startswith("PUT")]
            moved = await client.post(
                url, data={"tier": "business", "reason": "grew"}, headers=headers
            )
    assert 'data-stat="account-tier">pro<' in page
    assert '<option value="pro" selected>' in page and '<option value="business">' in page
    assert "annual &lt;b&gt;deal&lt;/b&gt;" in page
    assert moved.status_code == 200 and "The account is on business now" in moved.text
    assert stand_in.bodies == [{"tier": "business", "reason": "grew"}]


CHARGE = {
    "instance_id": "7d2c1a9e-3b4f-4e6a-8c0d-1f2e3a4b5c6d",
    "hour": "2026-11-02T14:00:00Z",
    "app_id": None,
    "app_slug": "shop",
    "plan_key": "small",
    "minutes": 30,
    "unit_price": 2,
    "amount": 1,
    "currency": "EUR",
    "transaction_id": "5a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d",
}
USAGE_ENTRY = {
    "id": "e1",
    "occurred_at": "2026-11-02T14:00:00Z",
    "kind": "usage",
    "description": None,
    "memo": "2 instances · 90 min",
    "amount": -3,
    "currency": "EUR",
}


def _page(*items: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    return 200, {"items": list(items), "total": len(items), "page": 1, "size": 20, "pages": 1}


async def test_usage_shows_each_instance_hour_of_the_days_asked_and_the_ledger_links_to_it(
    frontend_settings, public_jwks, signing_jwks
):
    answers = {
        **ANSWERS,
        "/api/billing/v1/account/usage/charges": _page(CHARGE),
        "/api/billing/v1/account/ledger": _page(USAGE_ENTRY),
    }
    with StandIn(answers) as stand_in:
        async with frontend_over(stand_in, frontend_settings, public_jwks) as client:
            _sign_in(client, signing_jwks)
            page = await client.get("/panel/billing/usage?from=2026-11-02&to=2026-11-02")
            ledger = await client.get("/panel/billing/ledger")
    assert page.status_code == 200, page.text[:300]
    row = page.text[page.text.index(f'data-instance="{CHARGE["instance_id"]}"') :]
    assert all(f">{cell}<" in row[:600] for cell in ("shop", "small", "30", "0.02 EUR", "0.01 EUR"))
    assert (
        "/api/billing/v1/account/usage/charges?page=1&size=20"
        "&from=2026-11-02T00%3A00%3A00Z&to=2026-11-03T00%3A00%3A00Z"
    ) in stand_in.asked, stand_in.asked
    assert 'href="/panel/billing/usage?from=2026-11-02&amp;to=2026-11-02"' in ledger.text


def _sign_in(
    client: httpx.AsyncClient, signing_jwks: dict[str, Any], roles: list[str] | None = None
) -> None:
    token = mint_access_token(
        signing_jwks,
        issuer="http://localhost:8080",
        subject="3f0c6a52-8d1e-4b8e-9a55-2b0f6c1d7e90",
        roles=roles or ["user"],
        lifetime=600,
    )
    client.cookies.set("berth_access", token)
