"""Status pages: the owner's settings, and a public read that shows only what the page is for."""

import uuid
from datetime import UTC, datetime, timedelta

from alerts_testkit import *  # noqa: F403 - the fixtures
from alerts_testkit import API, add_incident, add_monitor

from berth_monitoring.models import DayRollup, HourRollup, MaintenanceWindow


def _slug() -> str:
    return f"acme-{uuid.uuid4().hex[:10]}"


async def _page(http, who, **body):
    return await http.post(f"{API}/status-pages", json=body, headers=who.headers)


async def test_public_page_shows_chosen_monitors_only_and_no_targets(
    alerts_http, alerts_person, alerts_db
):
    who = alerts_person()
    shown = await add_monitor(
        alerts_db,
        who.id,
        name="internal billing-db probe",
        url="https://secret-host.internal.example.com/health?token=abc",
        state="down",
        last_error="connect ECONNREFUSED 203.0.113.9:443",
    )
    calm = await add_monitor(alerts_db, who.id, name="www", state="up")
    hidden = await add_monitor(alerts_db, who.id, name="not-on-the-page", state="down")
    await add_incident(alerts_db, shown, title="secret-host.internal.example.com is down")
    await add_incident(alerts_db, hidden, title="hidden incident")
    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    async with alerts_db() as session:
        session.add(
            DayRollup(
                monitor_id=calm.id,
                bucket=today - timedelta(days=1),
                checks=100,
                up_checks=99,
                latency_sum_ms=5000,
                latency_max_ms=90,
            )
        )
        session.add(
            HourRollup(
                monitor_id=calm.id,
                bucket=today,
                checks=60,
                up_checks=60,
                latency_sum_ms=600,
                latency_max_ms=20,
            )
        )
        await session.commit()

    slug = _slug()
    r = await _page(
        alerts_http,
        who,
        slug=slug,
        title="Acme status",
        description="Our services",
        monitors=[
            {"monitor_id": str(shown.id), "display_name": "Billing"},
            {"monitor_id": str(calm.id)},
        ],
    )
    assert r.status_code == 201, r.text
    assert [m["display_name"] for m in r.json()["monitors"]] == ["Billing", "www"]
    assert r.json()["path"] == f"/status/{slug}"

    public = await alerts_http.get(f"{API}/public/status/{slug}")  # no credentials
    assert public.status_code == 200, public.text
    assert "max-age" in public.headers["cache-control"]
    page = public.json()
    assert page["title"] == "Acme status" and page["overall"] == "down"
    assert [(m["name"], m["state"]) for m in page["monitors"]] == [
        ("Billing", "down"),
        ("www", "up"),
    ]
    billing, www = page["monitors"]
    assert len(www["days"]) == 90 and www["days"][-2]["up"] == 0.99 and www["days"][0]["up"] is None
    assert www["uptime"]["24h"] == 1.0 and billing["uptime"]["24h"] is None
    assert [i["title"] for i in page["incidents"]] == ["Outage: Billing"]
    for leak in (
        "secret-host",
        "token=abc",
        "203.0.113.9",
        "internal billing-db probe",
        "not-on-the-page",
        "hidden incident",
        str(shown.id),
        str(who.id),
    ):
        assert leak not in public.text, leak


async def test_maintenance_and_unpublished_pages(alerts_http, alerts_person, alerts_db):
    who = alerts_person()
    monitor = await add_monitor(alerts_db, who.id, state="down")
    now = datetime.now(UTC)
    async with alerts_db() as session:
        session.add(
            MaintenanceWindow(
                owner_id=who.id,
                name="db upgrade",
                starts_at=now - timedelta(minutes=5),
                ends_at=now + timedelta(hours=1),
                monitor_ids=[monitor.id],
            )
        )
        await session.commit()
    slug = _slug()
    made = await _page(
        alerts_http, who, slug=slug, title="T", monitors=[{"monitor_id": str(monitor.id)}]
    )
    page = (await alerts_http.get(f"{API}/public/status/{slug}")).json()
    assert page["monitors"][0]["state"] == "maintenance"

    r = await alerts_http.patch(
        f"{API}/status-pages/{made.json()['id']}", json={"is_published": False}, headers=who.headers
    )
    assert r.status_code == 200 and r.json()["is_published"] is False
    hidden = await alerts_http.get(f"{API}/public/status/{slug}")
    unknown = await alerts_http.get(f"{API}/public/status/{_slug()}")
    assert hidden.status_code == unknown.status_code == 404
    assert hidden.json() == unknown.json()  # an unpublished page is as unknown as a missing one
    assert (await alerts_http.get(f"{API}/public/status/..%2fadmin")).status_code in (404, 422)


async def test_slugs_are_unique_validated_and_reserved(alerts_http, alerts_person):
    a, b = alerts_person(), alerts_person()
    slug = _slug()
    assert (await _page(alerts_http, a, slug=slug, title="A")).status_code == 201
    taken = await _page(alerts_http, b, slug=slug, title="B")
    assert taken.status_code == 409 and taken.json()["error"]["code"] == "slug_taken"
    for bad in ("ab", "Acme", "acme_co", "-acme", "acme-", "a" * 61, "admin", "api", "status"):
        r = await _page(alerts_http, b, slug=bad, title="B")
        assert r.status_code == 422, (bad, r.text)
    mine = await _page(alerts_http, b, slug=_slug(), title="B")
    r = await alerts_http.patch(
        f"{API}/status-pages/{mine.json()['id']}", json={"slug": slug}, headers=b.headers
    )
    assert r.status_code == 409


async def test_pages_take_only_my_monitors_and_hide_from_others(
    alerts_http, alerts_person, alerts_db
):
    a, b = alerts_person(), alerts_person()
    theirs = await add_monitor(alerts_db, a.id)
    r = await _page(
        alerts_http, b, slug=_slug(), title="B", monitors=[{"monitor_id": str(theirs.id)}]
    )
    assert r.status_code == 422 and r.json()["error"]["details"]["monitor_ids"] == [str(theirs.id)]
    twice = [{"monitor_id": str(theirs.id)}] * 2
    assert (await _page(alerts_http, a, slug=_slug(), title="A", monitors=twice)).status_code == 422

    page = (await _page(alerts_http, a, slug=_slug(), title="A")).json()
    for method, body in (("GET", None), ("PATCH", {"title": "mine"}), ("DELETE", None)):
        r = await alerts_http.request(
            method, f"{API}/status-pages/{page['id']}", json=body, headers=b.headers
        )
        assert r.status_code == 404, (method, r.text)
    assert (await alerts_http.get(f"{API}/status-pages", headers=b.headers)).json()["total"] == 0
    listed = await alerts_http.get(f"{API}/status-pages", headers=a.headers)
    assert [p["id"] for p in listed.json()["items"]] == [page["id"]]
    assert (await alerts_http.get(f"{API}/status-pages")).status_code == 401
    gone = await alerts_http.delete(f"{API}/status-pages/{page['id']}", headers=a.headers)
    assert gone.status_code == 204
    assert (await alerts_http.get(f"{API}/public/status/{page['slug']}")).status_code == 404
