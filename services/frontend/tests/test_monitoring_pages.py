"""The Monitoring screens over a stand-in for monitoring's API: the list with its aggregates
and uptime, a monitor's page with the response-time chart, failures and incidents, an
incident's timeline, maintenance windows, and the add-monitor form showing what the API
refused next to the field."""

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
from frontend_testkit import StandIn

from berth_frontend.main import create_app
from berth_testing.oauth import mint_access_token
from berth_testing.plugin import app_client, trust_keys

API = "/api/monitoring/v1"
MONITOR_ID = "7d1f0c52-8d1e-4b8e-9a55-2b0f6c1d7e90"
INCIDENT_ID = "9a1f0c52-8d1e-4b8e-9a55-2b0f6c1d7e90"
MONITOR = {
    "id": MONITOR_ID,
    "name": "Shop front",
    "kind": "http",
    "app_id": None,
    "managed": False,
    "url": "https://shop.example.com/health",
    "host": None,
    "port": None,
    "http": {"method": "GET", "expected_status": [[200, 399]]},
    "grace_seconds": 0,
    "last_beat_at": None,
    "interval_seconds": 60,
    "timeout_seconds": 10.0,
    "failure_threshold": 3,
    "success_threshold": 2,
    "resend_minutes": 0,
    "suppressed": None,
    "muted_until": None,
    "mute_reason": None,
    "state": "down",
    "state_changed_at": "2026-11-30T01:00:00+00:00",
    "flapping": False,
    "open_incident_id": INCIDENT_ID,
    "last_checked_at": "2026-11-30T01:40:00+00:00",
    "last_ok": False,
    "last_latency_ms": 812,
    "last_error_kind": "status",
    "last_error": "status 503",
    "cert_expires_at": None,
    "created_at": "2026-11-29T10:00:00+00:00",
}
PAGE = {
    "items": [{**MONITOR, "uptime": {"24h": 0.9875, "7d": 0.999, "30d": None}}],
    "total": 1,
    "page": 1,
    "size": 20,
    "pages": 1,
    "counts": {"total": 1, "paused": 0, "down": 1},
}
STATS = {
    "uptime": {"24h": 0.9875, "7d": 0.999, "30d": None},
    "range": "24h",
    "latency": [
        {"at": "2026-11-30T00:00:00+00:00", "avg_ms": 120.5, "max_ms": 300, "up_ratio": 1.0},
        {"at": "2026-11-30T01:00:00+00:00", "avg_ms": 640.0, "max_ms": 812, "up_ratio": 0.9},
    ],
    "failures": [
        {
            "at": "2026-11-30T01:38:00+00:00",
            "error_kind": "status",
            "status": 503,
            "reason": "HTTP 503, expected 200-399",
        }
    ],
}
INCIDENT = {
    "id": INCIDENT_ID,
    "title": "Shop front is down",
    "status": "open",
    "cause": "status 503",
    "group_key": f"monitor:{MONITOR_ID}",
    "opened_at": "2026-11-30T01:38:00+00:00",
    "resolved_at": None,
}
INCIDENTS = {"items": [INCIDENT], "total": 1, "page": 1, "size": 20, "pages": 1}
WINDOWS = {
    "items": [
        {
            "id": "5b1f0c52-8d1e-4b8e-9a55-2b0f6c1d7e90",
            "name": "DB upgrade",
            "starts_at": "2026-12-01T02:00:00+00:00",
            "ends_at": "2026-12-01T03:00:00+00:00",
            "monitor_ids": None,
            "created_at": "2026-11-30T01:00:00+00:00",
        }
    ],
    "total": 1,
    "page": 1,
    "size": 20,
    "pages": 1,
}


def answers(**extra: Any) -> dict[str, Any]:
    return {
        "/api/auth/v1/me": (200, {"name": "Ada", "email": "ada@example.test"}),
        f"{API}/monitors": (200, PAGE),
        f"{API}/monitors/{MONITOR_ID}": (200, MONITOR),
        f"{API}/monitors/{MONITOR_ID}/stats": (200, STATS),
        f"{API}/incidents": (200, INCIDENTS),
        f"{API}/incidents/{INCIDENT_ID}": (
            200,
            {
                **INCIDENT,
                "monitors": [
                    {
                        "monitor_id": MONITOR_ID,
                        "name": "Shop front",
                        "down_at": "2026-11-30T01:38:00+00:00",
                        "up_at": None,
                    }
                ],
                "timeline": [
                    {
                        "at": INCIDENT["opened_at"],
                        "kind": "opened",
                        "monitor_id": None,
                        "detail": None,
                    },
                    {
                        "at": INCIDENT["opened_at"],
                        "kind": "monitor_down",
                        "monitor_id": MONITOR_ID,
                        "detail": "status 503",
                    },
                    {
                        "at": INCIDENT["opened_at"],
                        "kind": "alert_sent",
                        "monitor_id": None,
                        "detail": "email ops@example.test",
                    },
                ],
            },
        ),
        f"{API}/maintenance-windows": (200, WINDOWS),
        **extra,
    }


@asynccontextmanager
async def panel(
    stand_in: StandIn, settings: Any, public_jwks, signing_jwks
) -> AsyncIterator[httpx.AsyncClient]:
    url = stand_in.url
    app = create_app(
        settings.model_copy(
            update={"auth_url": url, "deploy_url": url, "billing_url": url, "monitoring_url": url}
        )
    )
    trust_keys(app, public_jwks)
    async with app_client(app, base_url="http://localhost:8080") as client:
        client.cookies.set(
            "berth_access",
            mint_access_token(
                signing_jwks,
                issuer="http://localhost:8080",
                subject="3f0c6a52-8d1e-4b8e-9a55-2b0f6c1d7e90",
                roles=["user"],
                lifetime=600,
            ),
        )
        yield client


async def _csrf(client: httpx.AsyncClient, page: str) -> dict[str, str]:
    html = (await client.get(page)).text
    return {"HX-Request": "true", "X-CSRF-Token": html.split('"X-CSRF-Token": "')[1][:64]}


async def test_the_list_shows_state_uptime_latency_and_counts(
    frontend_settings, public_jwks, signing_jwks
):
    with StandIn(answers()) as stand_in:
        async with panel(stand_in, frontend_settings, public_jwks, signing_jwks) as client:
            page = await client.get("/panel/monitoring?state=down&sort=name")
    assert page.status_code == 200, page.text[:300]
    text = page.text
    assert 'data-menu="monitoring"' in text and "Monitoring" in text
    assert f'data-monitor="{MONITOR_ID}"' in text and "Shop front" in text
    assert 'data-state="down"' in text and 'data-count="down">1<' in text
    assert "98.75 %" in text and "812 ms" in text
    assert "data-unavailable=" not in text
    assert f"{API}/monitors?page=1&size=20&sort=name&state=down" in stand_in.asked


async def test_a_monitors_page_draws_its_chart_failures_and_incidents(
    frontend_settings, public_jwks, signing_jwks
):
    with StandIn(answers()) as stand_in:
        async with panel(stand_in, frontend_settings, public_jwks, signing_jwks) as client:
            page = await client.get(f"/panel/monitoring/{MONITOR_ID}")
            partial = await client.get(
                f"/partials/monitoring/{MONITOR_ID}?range=7d", headers={"HX-Request": "true"}
            )
    assert page.status_code == 200, page.text[:300]
    text = page.text
    assert 'data-uptime="24h">98.75 %<' in text and 'data-uptime="30d">—<' in text
    chart = text.split('data-chart-name="latency"')[1].split('data-chart="')[1].split('"')[0]
    config = json.loads(chart.replace("&#34;", '"').replace("&quot;", '"'))
    assert config["type"] == "line" and config["data"]["datasets"][0]["data"] == [120.5, 640.0]
    assert "HTTP 503, expected 200-399" in text and "Shop front is down" in text
    assert partial.status_code == 200 and "<html" not in partial.text
    assert f"{API}/monitors/{MONITOR_ID}/stats?range=7d" in stand_in.asked


async def test_an_incident_shows_its_timeline(frontend_settings, public_jwks, signing_jwks):
    with StandIn(answers()) as stand_in:
        async with panel(stand_in, frontend_settings, public_jwks, signing_jwks) as client:
            listed = await client.get("/panel/monitoring/incidents?status=open")
            page = await client.get(f"/panel/monitoring/incidents/{INCIDENT_ID}")
    assert listed.status_code == 200 and "Shop front is down" in listed.text
    assert page.status_code == 200
    kinds = [part.split('"')[0] for part in page.text.split('data-event="')[1:]]
    assert kinds == ["opened", "monitor_down", "alert_sent"]
    assert "email ops@example.test" in page.text


async def test_maintenance_windows_list_and_plan(frontend_settings, public_jwks, signing_jwks):
    created = (201, WINDOWS["items"][0])
    with StandIn(answers(**{f"POST {API}/maintenance-windows": created})) as stand_in:
        async with panel(stand_in, frontend_settings, public_jwks, signing_jwks) as client:
            page = await client.get("/panel/monitoring/maintenance")
            assert page.status_code == 200 and "DB upgrade" in page.text
            headers = await _csrf(client, "/panel/monitoring/maintenance")
            bad = await client.post(
                "/partials/monitoring/maintenance",
                data={"name": "x", "starts_at": "soon", "ends_at": ""},
                headers=headers,
            )
            assert bad.status_code == 200 and "Enter a date and time." in bad.text
            assert not [a for a in stand_in.asked if a.startswith("POST")]
            good = await client.post(
                "/partials/monitoring/maintenance",
                data={
                    "name": "DB upgrade",
                    "starts_at": "2026-12-01T02:00",
                    "ends_at": "2026-12-01T03:00",
                    "monitor_ids": MONITOR_ID,
                },
                headers=headers,
            )
    assert good.status_code == 200 and "planned" in good.text
    assert stand_in.bodies[-1] == {
        "name": "DB upgrade",
        "starts_at": "2026-12-01T02:00:00+00:00",
        "ends_at": "2026-12-01T03:00:00+00:00",
        "monitor_ids": [MONITOR_ID],
    }


async def test_the_add_form_shows_the_apis_refusal_next_to_the_url(
    frontend_settings, public_jwks, signing_jwks
):
    refused = (
        422,
        {
            "error": {
                "code": "target_refused",
                "message": "10.0.0.1 is not a public address; monitors may only check public hosts",
                "details": {"field": "url"},
            }
        },
    )
    with StandIn(answers(**{f"POST {API}/monitors": refused})) as stand_in:
        async with panel(stand_in, frontend_settings, public_jwks, signing_jwks) as client:
            headers = await _csrf(client, "/panel/monitoring/new")
            missing = await client.post(
                "/partials/monitoring", data={"kind": "tcp", "name": "db"}, headers=headers
            )
            assert missing.status_code == 200 and 'id="e-host"' in missing.text
            assert 'id="e-port"' in missing.text and not stand_in.bodies
            response = await client.post(
                "/partials/monitoring",
                data={
                    "kind": "http",
                    "name": "inside",
                    "url": "http://10.0.0.1/",
                    "interval_seconds": "60",
                    "expected_status": "200-299, 301",
                    "keyword": "ok",
                },
                headers=headers,
            )
    assert response.status_code == 200
    assert 'id="e-url"' in response.text and "is not a public address" in response.text
    assert stand_in.bodies[-1] == {
        "kind": "http",
        "name": "inside",
        "interval_seconds": 60,
        "url": "http://10.0.0.1/",
        "http": {"expected_status": [[200, 299], [301, 301]], "keyword": "ok"},
    }


async def test_a_new_heartbeat_shows_its_push_url_once(
    frontend_settings, public_jwks, signing_jwks
):
    heartbeat = {
        **MONITOR,
        "kind": "heartbeat",
        "url": None,
        "push_url": "http://localhost:8080/api/monitoring/v1/heartbeat/s3cr3t-token-value-xyz",
    }
    with StandIn(answers(**{f"POST {API}/monitors": (201, heartbeat)})) as stand_in:
        async with panel(stand_in, frontend_settings, public_jwks, signing_jwks) as client:
            headers = await _csrf(client, "/panel/monitoring/new")
            response = await client.post(
                "/partials/monitoring",
                data={"kind": "heartbeat", "name": "backup", "grace_seconds": "30"},
                headers=headers,
            )
    assert response.status_code == 200, response.text[:300]
    assert "s3cr3t-token-value-xyz" in response.text and 'id="secret-value"' in response.text
    assert response.headers["HX-Push-Url"] == f"/panel/monitoring/{MONITOR_ID}"
    assert stand_in.bodies[-1] == {"kind": "heartbeat", "name": "backup", "grace_seconds": 30}


async def test_settings_are_sent_as_a_patch_and_bad_numbers_are_not(
    frontend_settings, public_jwks, signing_jwks
):
    patched = (200, {**MONITOR, "name": "Shop"})
    path = f"/partials/monitoring/{MONITOR_ID}/settings"
    with StandIn(answers(**{f"PATCH {API}/monitors/{MONITOR_ID}": patched})) as stand_in:
        async with panel(stand_in, frontend_settings, public_jwks, signing_jwks) as client:
            headers = await _csrf(client, f"/panel/monitoring/{MONITOR_ID}")
            bad = await client.post(path, data={"failure_threshold": "99"}, headers=headers)
            assert bad.status_code == 200 and "Between 1 and 20." in bad.text
            assert not [a for a in stand_in.asked if a.startswith("PATCH")]
            good = await client.post(
                path,
                data={"name": "Shop", "failure_threshold": "4", "resend_minutes": "30"},
                headers=headers,
            )
    assert good.status_code == 200 and "Settings saved." in good.text
    assert 'id="monitor-settings"' in good.text
    assert stand_in.bodies[-1] == {"name": "Shop", "failure_threshold": 4, "resend_minutes": 30}


async def test_alert_channels_are_linked_from_the_monitors_page(
    frontend_settings, public_jwks, signing_jwks
):
    email = {"id": "c1", "name": "On-call mail", "kind": "email", "is_enabled": True}
    hook = {"id": "c2", "name": "Ops hook", "kind": "webhook", "is_enabled": False}
    links = f"{API}/monitors/{MONITOR_ID}/channels"
    with StandIn(
        answers(
            **{
                links: (200, {"channel_ids": ["c1"]}),
                f"{API}/channels": (200, {"items": [email, hook], "total": 2}),
                f"PUT {links}": (200, {"channel_ids": ["c2"]}),
            }
        )
    ) as stand_in:
        async with panel(stand_in, frontend_settings, public_jwks, signing_jwks) as client:
            part = await client.get(
                f"/partials/monitoring/{MONITOR_ID}/channels", headers={"HX-Request": "true"}
            )
            assert part.status_code == 200 and 'value="c1" checked' in part.text
            assert 'value="c2">' in part.text and "disabled" in part.text
            headers = await _csrf(client, f"/panel/monitoring/{MONITOR_ID}")
            saved = await client.post(
                f"/partials/monitoring/{MONITOR_ID}/channels",
                data={"channel_ids": "c2"},
                headers=headers,
            )
    assert saved.status_code == 200 and "Alert channels saved." in saved.text
    assert stand_in.bodies[-1] == {"channel_ids": ["c2"]}


async def test_the_channels_part_says_so_when_there_is_no_channels_api(
    frontend_settings, public_jwks, signing_jwks
):
    links = f"{API}/monitors/{MONITOR_ID}/channels"
    with StandIn(answers(**{links: (200, {"channel_ids": []})})) as stand_in:
        async with panel(stand_in, frontend_settings, public_jwks, signing_jwks) as client:
            part = await client.get(
                f"/partials/monitoring/{MONITOR_ID}/channels", headers={"HX-Request": "true"}
            )
    assert part.status_code == 200 and 'id="channel-links"' not in part.text
    assert "notice-error" in part.text
