"""Support pages over a stand-in tickets API: the customer's ticket list, form and thread,
the staff desk; markdown rendered safely, files as download links, notes only on the desk,
and the desk closed to customers."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
from frontend_testkit import StandIn

from berth_frontend.main import create_app
from berth_testing.oauth import mint_access_token
from berth_testing.plugin import app_client, trust_keys

TID = "7d1f0c3e-1b2a-4c5d-8e9f-0a1b2c3d4e5f"
MID = "11111111-2222-4333-8444-555555555555"
NOTE_ID = "99999999-2222-4333-8444-555555555555"
FILE_ID = "aaaaaaaa-2222-4333-8444-555555555555"
NOTE_FILE_ID = "bbbbbbbb-2222-4333-8444-555555555555"
OWNER = "3f0c6a52-8d1e-4b8e-9a55-2b0f6c1d7e90"
API = "/api/tickets/v1"
NOTE_TEXT = "INTERNAL-customer-owes-us-300"

MESSAGE = {
    "id": MID,
    "author_kind": "customer",
    "body": "**Broken** since 9:00 <script>alert('x')</script> [click](javascript:alert(1))",
    "via": "web",
    "created_at": "2026-11-30T09:00:00Z",
}
TICKET = {
    "id": TID,
    "number": "T-000042",
    "department": "technical",
    "subject": "Shop is down",
    "status": "open",
    "priority": "high",
    "link": None,
    "merged_into": None,
    "rating": None,
    "rating_comment": None,
    "created_at": "2026-11-30T09:00:00Z",
    "updated_at": "2026-11-30T09:05:00Z",
    "closed_at": None,
}
FILE = {
    "id": FILE_ID,
    "ticket_id": TID,
    "message_id": MID,
    "filename": "screen.png",
    "content_type": "image/png",
    "size_bytes": 2048,
    "sha256": "0" * 64,
    "created_at": "2026-11-30T09:00:01Z",
}
SLA = {"state": "at_risk", "paused": False, "due": {}, "seconds_left": {}, "breached": {}}
STAFF_TICKET = {
    **TICKET,
    "owner_id": OWNER,
    "assignee_id": None,
    "plan_tier": "standard",
    "reopened_count": 0,
    "first_responded_at": None,
    "sla": SLA,
}
NOTE = {
    "id": NOTE_ID,
    "ticket_id": TID,
    "author_id": OWNER,
    "body": NOTE_TEXT,
    "created_at": "2026-11-30T09:02:00Z",
}
PAGE = {"items": [TICKET], "total": 1, "page": 1, "size": 20, "pages": 1}
ANSWERS: dict[str, Any] = {
    "/api/auth/v1/me": (200, {"name": "Ada", "email": "ada@example.test"}),
    f"{API}/tickets": (200, PAGE),
    f"{API}/tickets/{TID}": (200, {**TICKET, "messages": [MESSAGE]}),
    f"{API}/tickets/{TID}/attachments": (200, [FILE]),
    f"{API}/departments": (
        200,
        [{"id": TID, "slug": "technical", "name": "Technical", "description": ""}],
    ),
    "/api/deploy/v1/apps": (
        200,
        {"items": [{"id": OWNER, "slug": "shop", "name": "Shop"}], "total": 1},
    ),
    "/api/billing/v1/invoices": (200, {"items": [], "total": 0}),
    "/api/monitoring/v1/incidents": (200, {"items": [], "total": 0}),
    # staff's side: if a customer page ever asked these, the note would show
    f"{API}/staff/tickets": (200, {**PAGE, "items": [STAFF_TICKET]}),
    f"{API}/staff/tickets/{TID}": (
        200,
        {
            **STAFF_TICKET,
            "context": {
                "account": {"ok": True, "data": {"balance": 1250, "state": "active"}},
                "logs": {"ok": False, "note": "deploy logs unavailable"},
            },
            "messages": [MESSAGE],
            "notes": [NOTE],
            "events": [],
            "incidents": [],
        },
    ),
    f"{API}/staff/tickets/{TID}/attachments": (
        200,
        [
            {**FILE, "note_id": None},
            {
                **FILE,
                "id": NOTE_FILE_ID,
                "message_id": None,
                "filename": "internal.txt",
                "note_id": NOTE_ID,
            },
        ],
    ),
    f"{API}/staff/departments": (200, []),
    f"{API}/staff/canned-replies": (
        200,
        [{"id": NOTE_ID, "title": "Restart hint", "body": "x", "department_id": None}],
    ),
    f"POST {API}/tickets": (201, {**TICKET, "messages": [MESSAGE]}),
    f"POST {API}/tickets/{TID}/messages/{MID}/attachments": (201, FILE),
}


@asynccontextmanager
async def frontend_over(
    stand_in: StandIn, settings: Any, public_jwks: dict
) -> AsyncIterator[httpx.AsyncClient]:
    url = stand_in.url
    app = create_app(
        settings.model_copy(
            update={
                "auth_url": url,
                "deploy_url": url,
                "billing_url": url,
                "monitoring_url": url,
                "tickets_url": url,
            }
        )
    )
    trust_keys(app, public_jwks)
    async with app_client(app, base_url="http://localhost:8080") as client:
        yield client


def sign_in(client: httpx.AsyncClient, signing_jwks: dict, roles: list[str]) -> None:
    token = mint_access_token(
        signing_jwks, issuer="http://localhost:8080", subject=OWNER, roles=roles, lifetime=600
    )
    client.cookies.set("berth_access", token)


CUSTOMER_PAGES = (
    "/panel/support",
    "/panel/support/new",
    f"/panel/support/{TID}",
    f"/partials/support/{TID}",
)


async def test_customer_pages_render_the_thread_safely_and_never_reach_staff_data(
    frontend_settings, public_jwks, signing_jwks
):
    with StandIn(dict(ANSWERS)) as stand_in:
        async with frontend_over(stand_in, frontend_settings, public_jwks) as client:
            sign_in(client, signing_jwks, ["user"])
            pages = {path: await client.get(path) for path in CUSTOMER_PAGES}
    for path, page in pages.items():
        assert page.status_code == 200, (path, page.text[:300])
        assert NOTE_TEXT not in page.text and "internal.txt" not in page.text
    assert not [a for a in stand_in.asked if "/staff/" in a]
    thread = pages[f"/panel/support/{TID}"].text
    assert "<strong>Broken</strong>" in thread
    assert "<script>alert" not in thread and "&lt;script&gt;" in thread
    assert 'href="javascript:' not in thread
    assert f'href="/panel/support/files/{FILE_ID}" download' in thread
    assert "T-000042" in pages["/panel/support"].text
    new = pages["/panel/support/new"].text
    assert 'value="technical"' in new and f'value="app:{OWNER}"' in new
    assert 'enctype="multipart/form-data"' in new


async def test_opening_a_ticket_sends_it_then_its_files(
    frontend_settings, public_jwks, signing_jwks
):
    with StandIn(dict(ANSWERS)) as stand_in:
        async with frontend_over(stand_in, frontend_settings, public_jwks) as client:
            sign_in(client, signing_jwks, ["user"])
            page = (await client.get("/panel/support/new")).text
            token = page.split('name="csrf_token" value="')[1][:64]
            answer = await client.post(
                "/partials/support",
                data={
                    "csrf_token": token,
                    "department": "technical",
                    "priority": "high",
                    "subject": "Shop is down",
                    "body": "since 9:00",
                    "link": f"app:{OWNER}",
                },
                files={"files": ("screen.png", b"\x89PNG\r\n\x1a\nfake", "image/png")},
                headers={"HX-Request": "true"},
            )
    assert answer.status_code == 200, answer.text[:400]
    assert "Ticket T-000042 opened." in answer.text
    assert answer.headers["HX-Push-Url"] == f"/panel/support/{TID}"
    posted = [a for a in stand_in.asked if a.startswith("POST")]
    assert posted == [f"POST {API}/tickets", f"POST {API}/tickets/{TID}/messages/{MID}/attachments"]
    assert stand_in.bodies[0] == {
        "department": "technical",
        "priority": "high",
        "subject": "Shop is down",
        "body": "since 9:00",
        "link": {"kind": "app", "id": OWNER},
    }
    assert b'filename="screen.png"' in stand_in.bodies[1] and b"\x89PNG" in stand_in.bodies[1]


async def test_a_form_without_csrf_token_is_refused(frontend_settings, public_jwks, signing_jwks):
    with StandIn(dict(ANSWERS)) as stand_in:
        async with frontend_over(stand_in, frontend_settings, public_jwks) as client:
            sign_in(client, signing_jwks, ["user"])
            await client.get("/panel/support/new")
            answer = await client.post(
                "/partials/support", data={"department": "technical", "subject": "x", "body": "y"}
            )
    assert answer.status_code == 403
    assert not [a for a in stand_in.asked if a.startswith("POST")]


async def test_the_desk_is_for_support_staff_and_shows_notes_apart(
    frontend_settings, public_jwks, signing_jwks
):
    with StandIn(dict(ANSWERS)) as stand_in:
        async with frontend_over(stand_in, frontend_settings, public_jwks) as client:
            sign_in(client, signing_jwks, ["user"])
            refused = [
                await client.get(p)
                for p in ("/support", f"/support/tickets/{TID}", "/support/partials")
            ]
            asked_by_customer = list(stand_in.asked)
            sign_in(client, signing_jwks, ["user", "support"])
            queue = await client.get("/support")
            ticket = await client.get(f"/support/tickets/{TID}")
    assert [r.status_code for r in refused] == [403, 403, 403]
    assert not [a for a in asked_by_customer if "/staff/" in a]
    assert (
        queue.status_code == 200 and "T-000042" in queue.text and 'data-sla="at_risk"' in queue.text
    )
    assert ticket.status_code == 200, ticket.text[:300]
    text = ticket.text
    note_at = text.index(NOTE_TEXT)
    assert 'class="note"' in text[:note_at] and "Internal note · staff only" in text
    assert f'href="/support/files/{NOTE_FILE_ID}" download' in text
    assert "Restart hint" in text and "deploy logs unavailable" in text


async def test_another_customers_ticket_is_not_found(frontend_settings, public_jwks, signing_jwks):
    answers = {
        **ANSWERS,
        f"{API}/tickets/{TID}": (
            404,
            {"error": {"code": "not_found", "message": "No such ticket"}},
        ),
    }
    with StandIn(answers) as stand_in:
        async with frontend_over(stand_in, frontend_settings, public_jwks) as client:
            sign_in(client, signing_jwks, ["user"])
            page = await client.get(f"/panel/support/{TID}")
    assert page.status_code == 404 and "Broken" not in page.text


DEPT_ID = "44444444-2222-4333-8444-555555555555"
CAL_ID = "55555555-2222-4333-8444-555555555555"
ADMIN_ANSWERS: dict[str, Any] = {
    **ANSWERS,
    "/api/tickets/v1/admin/departments": (
        200,
        [
            {
                "id": DEPT_ID,
                "slug": "technical",
                "name": "Technical",
                "description": "",
                "is_active": True,
            }
        ],
    ),
    f"/api/tickets/v1/admin/departments/{DEPT_ID}/agents": (
        200,
        [{"agent_id": OWNER, "is_active": True, "last_assigned_at": None}],
    ),
    "/api/tickets/v1/admin/sla-policies": (
        200,
        [
            {
                "id": NOTE_ID,
                "plan_tier": "default",
                "priority": "high",
                "first_response_minutes": 60,
                "next_response_minutes": 120,
                "resolution_minutes": 960,
                "calendar_id": CAL_ID,
            }
        ],
    ),
    "/api/tickets/v1/admin/calendars": (
        200,
        [
            {
                "id": CAL_ID,
                "name": "Office",
                "timezone": "Europe/Berlin",
                "weekly_hours": {"1": [["09:00", "17:00"]]},
                "holidays": ["2026-12-25"],
            }
        ],
    ),
    "POST /api/tickets/v1/admin/calendars": (201, {"id": CAL_ID}),
}


async def test_admin_desk_settings_pages_and_a_calendar_from_lines(
    frontend_settings, public_jwks, signing_jwks
):
    with StandIn(dict(ADMIN_ANSWERS)) as stand_in:
        async with frontend_over(stand_in, frontend_settings, public_jwks) as client:
            sign_in(client, signing_jwks, ["user"])
            refused = await client.get("/admin/support")
            sign_in(client, signing_jwks, ["user", "admin"])
            pages = [
                await client.get(p)
                for p in ("/admin/support", "/admin/support/canned", "/admin/support/sla")
            ]
            html = pages[2].text
            headers = {
                "HX-Request": "true",
                "X-CSRF-Token": html.split('"X-CSRF-Token": "')[1][:64],
            }
            bad = await client.post(
                "/admin/partials/support/calendars",
                data={"name": "Office", "timezone": "Europe/Berlin", "weekly_hours": "mon 9-5"},
                headers=headers,
            )
            posted_before = [a for a in stand_in.asked if a.startswith("POST")]
            good = await client.post(
                "/admin/partials/support/calendars",
                data={
                    "name": "Office",
                    "timezone": "Europe/Berlin",
                    "weekly_hours": "1-5 09:00-12:00, 13:00-17:00\n6 10:00-12:00",
                    "holidays": "2026-12-25, 2027-01-01",
                },
                headers=headers,
            )
    assert refused.status_code == 403
    assert [p.status_code for p in pages] == [200, 200, 200]
    assert "technical" in pages[0].text and OWNER in pages[0].text
    assert "Restart hint" in pages[1].text
    assert (
        "960 min" in pages[2].text
        and "1: 09:00-17:00" in pages[2].text
        and "Office" in pages[2].text
    )
    assert "write days then hours" in bad.text and posted_before == []
    assert good.status_code == 200 and "Calendar saved." in good.text
    sent = stand_in.bodies[-1]
    assert sent["holidays"] == ["2026-12-25", "2027-01-01"]
    assert sent["weekly_hours"]["3"] == [["09:00", "12:00"], ["13:00", "17:00"]]
    assert sent["weekly_hours"]["6"] == [["10:00", "12:00"]] and "7" not in sent["weekly_hours"]


async def test_the_new_ticket_form_survives_a_service_without_its_list(
    frontend_settings, public_jwks, signing_jwks
):
    answers = {k: v for k, v in ANSWERS.items() if k != "/api/monitoring/v1/incidents"}
    with StandIn(answers) as stand_in:  # monitoring answers 404: no incidents list there
        async with frontend_over(stand_in, frontend_settings, public_jwks) as client:
            sign_in(client, signing_jwks, ["user"])
            page = await client.get("/panel/support/new")
    assert page.status_code == 200, page.text[:300]
    assert f'value="app:{OWNER}"' in page.text
    assert "Your incidents could not be listed right now." in page.text
