"""Admins' settings of the desk: calendars (checked before they are stored), SLA policies,
departments and agents; staff may not change them."""

import uuid

from fixtures_tickets import API, make_department

WEEK = {str(d): [["09:00", "17:00"]] for d in range(1, 6)}


async def test_calendars_and_policies(tickets_http, admin, staff) -> None:
    name = f"Berlin office {uuid.uuid4().hex[:6]}"
    for bad, code in (
        ({"name": name, "timezone": "Mars/Base", "weekly_hours": WEEK}, "invalid_calendar"),
        (
            {"name": name, "timezone": "UTC", "weekly_hours": {"1": [["18:00", "09:00"]]}},
            "invalid_calendar",
        ),
        ({"name": name, "timezone": "UTC", "weekly_hours": {}}, "invalid_calendar"),
        (
            {"name": name, "timezone": "UTC", "weekly_hours": {"mon": [["09:00", "17:00"]]}},
            "invalid_calendar",
        ),
        (
            {"name": name, "timezone": "UTC", "weekly_hours": WEEK, "holidays": ["2026-02-30"]},
            "validation_error",
        ),
    ):
        r = await tickets_http.post(f"{API}/admin/calendars", json=bad, headers=admin.headers)
        assert r.status_code == 422 and r.json()["error"]["code"] == code, (bad, r.text)
    r = await tickets_http.post(
        f"{API}/admin/calendars",
        json={
            "name": name,
            "timezone": "Europe/Berlin",
            "weekly_hours": WEEK,
            "holidays": ["2026-12-25"],
        },
        headers=admin.headers,
    )
    assert r.status_code == 201, r.text
    calendar = r.json()
    assert calendar["holidays"] == ["2026-12-25"]
    r = await tickets_http.post(
        f"{API}/admin/calendars",
        json={"name": name, "timezone": "UTC", "weekly_hours": WEEK},
        headers=admin.headers,
    )
    assert r.status_code == 409
    r = await tickets_http.patch(
        f"{API}/admin/calendars/{calendar['id']}",
        json={"weekly_hours": {"1": [["10:00", "09:00"]]}},
        headers=admin.headers,
    )
    assert r.status_code == 422

    tier = f"tier-{uuid.uuid4().hex[:6]}"
    minutes = {
        "first_response_minutes": 60,
        "next_response_minutes": 120,
        "resolution_minutes": 480,
    }
    r = await tickets_http.post(
        f"{API}/admin/sla-policies",
        json={"plan_tier": tier, "priority": "low", "calendar_id": str(uuid.uuid4()), **minutes},
        headers=admin.headers,
    )
    assert r.status_code == 404
    r = await tickets_http.post(
        f"{API}/admin/sla-policies",
        json={"plan_tier": tier, "priority": "low", "calendar_id": calendar["id"], **minutes},
        headers=admin.headers,
    )
    assert r.status_code == 201, r.text
    policy = r.json()
    r = await tickets_http.post(
        f"{API}/admin/sla-policies",
        json={"plan_tier": tier, "priority": "low", **minutes},
        headers=admin.headers,
    )
    assert r.status_code == 409
    for bad in ({"first_response_minutes": 0}, {"resolution_minutes": "soon"}):
        r = await tickets_http.patch(
            f"{API}/admin/sla-policies/{policy['id']}", json=bad, headers=admin.headers
        )
        assert r.status_code == 422
    # a calendar in use is not deleted from under its policies
    r = await tickets_http.delete(f"{API}/admin/calendars/{calendar['id']}", headers=admin.headers)
    assert r.status_code == 409
    r = await tickets_http.delete(f"{API}/admin/sla-policies/{policy['id']}", headers=admin.headers)
    assert r.status_code == 204
    r = await tickets_http.delete(f"{API}/admin/calendars/{calendar['id']}", headers=admin.headers)
    assert r.status_code == 204
    # support staff use the desk; they do not set it up
    r = await tickets_http.get(f"{API}/admin/sla-policies", headers=staff.headers)
    assert r.status_code == 403


async def test_departments_and_agents(tickets_http, services, admin, staff, person) -> None:
    department = await make_department(tickets_http, admin, name="Sales")
    r = await tickets_http.post(
        f"{API}/admin/departments",
        json={"slug": department["slug"], "name": "Again"},
        headers=admin.headers,
    )
    assert r.status_code == 409
    r = await tickets_http.post(
        f"{API}/admin/departments", json={"slug": "Bad Slug!", "name": "X"}, headers=admin.headers
    )
    assert r.status_code == 422
    agent = uuid.uuid4()
    # auth's directory down: who is staff cannot be checked, so nobody is added
    r = await tickets_http.put(
        f"{API}/admin/departments/{department['id']}/agents/{agent}", json={}, headers=admin.headers
    )
    assert r.status_code == 503
    services.person(agent, roles=("user", "admin"))
    r = await tickets_http.put(
        f"{API}/admin/departments/{department['id']}/agents/{agent}", json={}, headers=admin.headers
    )
    assert r.status_code == 200 and r.json()["is_active"] is True
    r = await tickets_http.get(
        f"{API}/admin/departments/{department['id']}/agents", headers=admin.headers
    )
    assert [a["agent_id"] for a in r.json()] == [str(agent)]
    r = await tickets_http.delete(
        f"{API}/admin/departments/{department['id']}/agents/{agent}", headers=admin.headers
    )
    assert r.status_code == 204
    # a closed department takes no new tickets and leaves the customers' list
    r = await tickets_http.patch(
        f"{API}/admin/departments/{department['id']}",
        json={"is_active": False},
        headers=admin.headers,
    )
    assert r.status_code == 200 and r.json()["is_active"] is False
    customer = person()
    r = await tickets_http.get(f"{API}/departments", headers=customer.headers)
    assert department["slug"] not in [d["slug"] for d in r.json()]
    r = await tickets_http.post(
        f"{API}/tickets",
        json={"department": department["slug"], "subject": "x", "body": "y"},
        headers=customer.headers,
    )
    assert r.status_code == 404
    r = await tickets_http.get(f"{API}/staff/departments", headers=staff.headers)
    assert department["slug"] in [d["slug"] for d in r.json()]


async def test_staff_change_priority_and_status(tickets_http, person, staff, admin) -> None:
    department = await make_department(tickets_http, admin)
    customer = person()
    r = await tickets_http.post(
        f"{API}/tickets",
        json={"department": department["slug"], "subject": "Slow", "body": "pages are slow"},
        headers=customer.headers,
    )
    tid = r.json()["id"]
    r = await tickets_http.patch(
        f"{API}/staff/tickets/{tid}",
        json={"priority": "urgent", "status": "waiting_customer"},
        headers=staff.headers,
    )
    assert r.status_code == 200, r.text
    assert r.json()["priority"] == "urgent" and r.json()["status"] == "waiting_customer"
    assert r.json()["sla"]["paused"] is True
    r = await tickets_http.patch(
        f"{API}/staff/tickets/{tid}", json={"status": "closed"}, headers=staff.headers
    )
    assert r.json()["status"] == "closed" and r.json()["sla"]["due"] == {}
    r = await tickets_http.patch(
        f"{API}/staff/tickets/{tid}", json={"status": "open"}, headers=staff.headers
    )
    assert r.json()["status"] == "open" and r.json()["reopened_count"] == 1
    r = await tickets_http.patch(
        f"{API}/staff/tickets/{tid}", json={"status": "merged"}, headers=staff.headers
    )
    assert r.status_code == 422
    r = await tickets_http.get(f"{API}/staff/tickets/{tid}", headers=staff.headers)
    kinds = [e["kind"] for e in r.json()["events"]]
    assert "priority_changed" in kinds and kinds.count("status_changed") == 2
    r = await tickets_http.patch(
        f"{API}/staff/tickets/{uuid.uuid4()}", json={"priority": "low"}, headers=staff.headers
    )
    assert r.status_code == 404


async def test_a_window_a_calendar_cannot_hold_is_refused(tickets_http, admin) -> None:
    r = await tickets_http.post(
        f"{API}/admin/calendars",
        json={
            "name": f"Mondays {uuid.uuid4().hex[:6]}",
            "timezone": "UTC",
            "weekly_hours": {"1": [["09:00", "10:00"]]},
        },
        headers=admin.headers,
    )
    assert r.status_code == 201, r.text
    calendar = r.json()
    long = {
        "first_response_minutes": 60,
        "next_response_minutes": 60,
        "resolution_minutes": 525_600,
    }
    tier = f"tier-{uuid.uuid4().hex[:6]}"
    r = await tickets_http.post(
        f"{API}/admin/sla-policies",
        json={"plan_tier": tier, "priority": "normal", "calendar_id": calendar["id"], **long},
        headers=admin.headers,
    )
    assert r.status_code == 422 and r.json()["error"]["code"] == "window_too_long", r.text
    r = await tickets_http.post(
        f"{API}/admin/sla-policies",
        json={
            "plan_tier": tier,
            "priority": "normal",
            "calendar_id": calendar["id"],
            **long,
            "resolution_minutes": 600,  # ten Mondays
        },
        headers=admin.headers,
    )
    assert r.status_code == 201, r.text
    # the calendar cannot shrink under its policies either
    r = await tickets_http.patch(
        f"{API}/admin/calendars/{calendar['id']}",
        json={"weekly_hours": {"1": [["09:00", "09:01"]]}},
        headers=admin.headers,
    )
    assert r.status_code == 422 and r.json()["error"]["code"] == "window_too_long"
    r = await tickets_http.get(f"{API}/admin/calendars", headers=admin.headers)
    kept = next(c for c in r.json() if c["id"] == calendar["id"])
    assert kept["weekly_hours"] == {"1": [["09:00", "10:00"]]}
