"""The alert-channel and status-page screens over a stand-in for monitoring: what the page
shows comes from what the service said; the public status page carries nothing of a session."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
from frontend_testkit import StandIn

from berth_frontend.main import create_app
from berth_testing.oauth import mint_access_token
from berth_testing.plugin import app_client, trust_keys

CHANNEL = {
    "id": "0b6f3c1e-5d2a-4c8e-9f10-2a3b4c5d6e7f",
    "kind": "webhook",
    "name": "Ops hook",
    "target": "https://hooks.example.com/berth",
    "secret": "…wxyz",
    "is_enabled": True,
    "last_test_at": None,
    "created_at": "2026-11-30T01:00:00Z",
}
PAGE_ID = "6a1f3c1e-5d2a-4c8e-9f10-2a3b4c5d6e70"
PUBLIC = {
    "slug": "acme",
    "title": "Acme <status>",
    "description": "Shop and API",
    "overall": "down",
    "monitors": [
        {
            "name": "Shop",
            "state": "down",
            "uptime": {"24h": 0.5, "7d": None, "30d": None},
            "days": [{"day": "2026-11-29", "up": 0.999}, {"day": "2026-11-30", "up": 0.5}]
            + [{"day": "2026-11-01", "up": None}] * 88,
        }
    ],
    "incidents": [{"title": "Outage: Shop", "opened_at": "2026-11-30T01:00:00Z"}],
    "generated_at": "2026-11-30T01:10:00Z",
}
EMPTY_PAGE = {"items": [], "total": 0, "page": 1, "size": 50, "pages": 0}
ME = {"/api/auth/v1/me": (200, {"name": "Ada", "email": "ada@example.test"})}


@asynccontextmanager
async def frontend_over(
    stand_in: StandIn, settings: Any, public_jwks: dict[str, Any]
) -> AsyncIterator[httpx.AsyncClient]:
    url = stand_in.url
    app = create_app(
        settings.model_copy(
            update={"auth_url": url, "deploy_url": url, "billing_url": url, "monitoring_url": url}
        )
    )
    trust_keys(app, public_jwks)
    async with app_client(app, base_url="http://localhost:8080") as client:
        yield client


def _sign_in(client: httpx.AsyncClient, signing_jwks: dict[str, Any]) -> None:
    token = mint_access_token(
        signing_jwks,
        issuer="http://localhost:8080",
        subject="3f0c6a52-8d1e-4b8e-9a55-2b0f6c1d7e90",
        lifetime=600,
    )
    client.cookies.set("berth_access", token)


async def test_channels_list_shows_the_hint_and_never_a_secret(
    frontend_settings, public_jwks, signing_jwks
):
    answers = {
        **ME,
        "/api/monitoring/v1/channels": (200, {**EMPTY_PAGE, "items": [CHANNEL], "total": 1}),
    }
    with StandIn(answers) as stand_in:
        async with frontend_over(stand_in, frontend_settings, public_jwks) as client:
            _sign_in(client, signing_jwks)
            page = await client.get("/panel/monitoring/channels")
            new = await client.get("/partials/monitoring/channels/new?kind=telegram")
    assert page.status_code == 200, page.text[:500]
    assert "Ops hook" in page.text and "set (…wxyz)" in page.text
    assert 'data-menu="channels"' in page.text
    assert new.status_code == 200 and 'value="telegram" checked' in new.text


async def test_new_status_page_works_when_the_monitor_list_is_unavailable(
    frontend_settings, public_jwks, signing_jwks
):
    with StandIn(dict(ME)) as stand_in:  # the monitors API answers 404 (not there)
        async with frontend_over(stand_in, frontend_settings, public_jwks) as client:
            _sign_in(client, signing_jwks)
            page = await client.get("/panel/monitoring/status-pages/new")
    assert page.status_code == 200, page.text[:800]
    assert 'id="f-slug"' in page.text and "Create status page" in page.text


async def test_status_page_form_picks_monitors_with_display_names(
    frontend_settings, public_jwks, signing_jwks
):
    monitor = "9c2f3c1e-5d2a-4c8e-9f10-2a3b4c5d6e71"
    answers = {
        **ME,
        "/api/monitoring/v1/monitors": (
            200,
            {**EMPTY_PAGE, "items": [{"id": monitor, "name": "shop-prod-eu"}], "total": 1},
        ),
        "POST /api/monitoring/v1/status-pages": (
            201,
            {"id": PAGE_ID, "title": "Acme", "path": "/status/acme"},
        ),
        "/api/monitoring/v1/status-pages": (200, EMPTY_PAGE),
    }
    with StandIn(answers) as stand_in:
        async with frontend_over(stand_in, frontend_settings, public_jwks) as client:
            _sign_in(client, signing_jwks)
            form = await client.get("/panel/monitoring/status-pages/new")
            assert "shop-prod-eu" in form.text
            token = form.text.split('"X-CSRF-Token": "')[1][:64]
            saved = await client.post(
                "/partials/monitoring/status-pages",
                data={
                    "slug": "Acme",
                    "title": "Acme",
                    "is_published": "on",
                    "monitor_ids": [monitor, "not-a-uuid"],
                    f"display_{monitor}": "Shop",
                },
                headers={"HX-Request": "true", "X-CSRF-Token": token},
            )
    assert saved.status_code == 200, saved.text[:500]
    assert "Saved: Acme is at /status/acme." in saved.text
    assert stand_in.bodies[-1] == {
        "slug": "acme",
        "title": "Acme",
        "description": "",
        "is_published": True,
        "monitors": [{"monitor_id": monitor, "display_name": "Shop"}],
    }


async def test_public_status_page_is_cacheable_and_escaped(frontend_settings, public_jwks):
    answers = {"/api/monitoring/v1/public/status/acme": (200, PUBLIC)}
    with StandIn(answers) as stand_in:
        async with frontend_over(stand_in, frontend_settings, public_jwks) as client:
            page = await client.get("/status/acme")
            missing = await client.get("/status/nobody")
            bad = await client.get("/status/..%2F..%2Fadmin")
    assert page.status_code == 200, page.text[:500]
    assert page.headers["cache-control"] == "public, max-age=30"
    assert "set-cookie" not in page.headers and "csrf" not in page.text.lower()
    assert "Acme &lt;status&gt;" in page.text and "Outage: Shop" in page.text
    assert page.text.count('class="bar ') == 90
    assert 'class="bar bar-up"' in page.text and 'class="bar bar-down"' in page.text
    assert 'data-overall="down"' in page.text and "24h: 50.00%" in page.text
    assert missing.status_code == 404 and bad.status_code == 404
    assert "max-age" not in missing.headers.get("cache-control", "")
