"""The beats (SLA breaches, auto-close) through the worker's own task bodies, and monitoring's
incidents meeting tickets (links checked with the owning service on the customer's behalf)."""

import uuid
from collections.abc import AsyncIterator

import pytest
from fixtures_tickets import API, make_department, open_ticket, sql


class Worker:
    """The worker's task bodies, run as its task wrapper runs them: a session of the
    worker's own, committed at the task's edge (imported once the run's environment is set,
    as a worker process reads it at start)."""

    def __init__(self) -> None:
        from berth_tickets import tasks
        from berth_tickets.worker import worker_runtime

        self.tasks = tasks
        self.runtime = worker_runtime

    async def run(self, name: str, **kwargs):
        return await self.runtime.in_transaction(getattr(self.tasks, name), **kwargs)


@pytest.fixture(scope="session")
async def worker(berth_env) -> AsyncIterator[Worker]:
    found = Worker()
    yield found
    if found.runtime._relay is not None:
        await found.runtime.relay.publisher.close()
    await found.runtime.db.dispose()


async def ensure_policy(http, admin, priority: str, **minutes) -> None:
    r = await http.get(f"{API}/admin/sla-policies", headers=admin.headers)
    for policy in r.json():
        if policy["plan_tier"] == "standard" and policy["priority"] == priority:
            return
    r = await http.post(
        f"{API}/admin/sla-policies",
        json={"plan_tier": "standard", "priority": priority, **minutes},
        headers=admin.headers,
    )
    assert r.status_code == 201, r.text


async def breach_events(db, ticket_id: str) -> list:
    return await sql(
        db,
        "SELECT data->>'target' FROM tickets.ticket_events WHERE ticket_id = :t "
        "AND kind = 'sla_breached' ORDER BY id",
        t=uuid.UUID(ticket_id),
    )


async def test_a_breach_is_recorded_once_and_its_assignee_told_once(
    tickets_http, tickets_db, worker, services, person, staff, admin
) -> None:
    services.person(staff, roles=("user", "support"))
    await ensure_policy(
        tickets_http,
        admin,
        "urgent",
        first_response_minutes=30,
        next_response_minutes=60,
        resolution_minutes=240,
    )
    department = await make_department(tickets_http, admin)
    ticket = await open_ticket(tickets_http, person(), department, priority="urgent")
    tid = ticket["id"]
    r = await tickets_http.get(f"{API}/staff/tickets/{tid}", headers=staff.headers)
    sla = r.json()["sla"]
    assert set(sla["due"]) == {"first_response", "resolution"} and sla["state"] == "ok"
    assert 29 * 60 < sla["seconds_left"]["first_response"] <= 30 * 60
    r = await tickets_http.post(
        f"{API}/staff/tickets/{tid}/assign",
        json={"assignee_id": str(staff.id)},
        headers=staff.headers,
    )
    assert r.status_code == 200
    await sql(
        tickets_db,
        "UPDATE tickets.tickets SET first_response_due_at = now() - interval '5 minutes' "
        "WHERE id = :t",
        t=uuid.UUID(tid),
    )
    await worker.run("sla_breaches")
    await worker.run("sla_breaches")  # a second beat (or a redelivery) adds nothing
    assert await breach_events(tickets_db, tid) == [("first_response",)]
    rows = await sql(
        tickets_db,
        "SELECT recipient_id FROM tickets.outgoing_emails WHERE ticket_id = :t "
        "AND notification_key LIKE 'sla_breached:%'",
        t=uuid.UUID(tid),
    )
    assert rows == [(staff.id,)]
    r = await tickets_http.get(f"{API}/staff/tickets/{tid}", headers=staff.headers)
    assert r.json()["sla"]["state"] == "breached"
    assert "first_response" in r.json()["sla"]["breached"]


async def test_no_breach_while_waiting_on_the_customer_and_the_clock_moves_on(
    tickets_http, tickets_db, worker, person, staff, admin
) -> None:
    await ensure_policy(
        tickets_http,
        admin,
        "urgent",
        first_response_minutes=30,
        next_response_minutes=60,
        resolution_minutes=240,
    )
    department = await make_department(tickets_http, admin)
    customer = person()
    ticket = await open_ticket(tickets_http, customer, department, priority="urgent")
    tid = ticket["id"]
    r = await tickets_http.post(
        f"{API}/staff/tickets/{tid}/replies", json={"body": "Logs please"}, headers=staff.headers
    )
    assert r.status_code == 201
    # paused an hour ago with 10 minutes of its resolution window left; the old due moment
    # is long past, but the customer held the clock
    await sql(
        tickets_db,
        "UPDATE tickets.tickets SET paused_since = now() - interval '60 minutes', "
        "waiting_since = now() - interval '60 minutes', "
        "resolution_due_at = now() - interval '50 minutes' WHERE id = :t",
        t=uuid.UUID(tid),
    )
    await worker.run("sla_breaches")
    assert await breach_events(tickets_db, tid) == []
    r = await tickets_http.post(
        f"{API}/tickets/{tid}/messages", json={"body": "here they are"}, headers=customer.headers
    )
    assert r.status_code == 201
    r = await tickets_http.get(f"{API}/staff/tickets/{tid}", headers=staff.headers)
    sla = r.json()["sla"]
    assert r.json()["status"] == "open" and sla["paused"] is False
    # 10 minutes were left at the pause: they count again from the customer's answer
    assert 9 * 60 < sla["seconds_left"]["resolution"] <= 10 * 60
    assert sla["state"] == "at_risk"  # 10 of 240 minutes left
    await worker.run("sla_breaches")
    assert await breach_events(tickets_db, tid) == []


async def test_auto_close_by_the_beat_once(
    tickets_http, tickets_db, tickets_settings, worker, person, staff, admin
) -> None:
    department = await make_department(tickets_http, admin)
    customer = person()
    waiting = await open_ticket(tickets_http, customer, department)
    fresh = await open_ticket(tickets_http, customer, department)
    for t in (waiting, fresh):
        r = await tickets_http.post(
            f"{API}/staff/tickets/{t['id']}/replies",
            json={"body": "Did that help?"},
            headers=staff.headers,
        )
        assert r.status_code == 201
    hours = tickets_settings.auto_close_hours
    await sql(
        tickets_db,
        "UPDATE tickets.tickets SET waiting_since = now() - make_interval(hours => :h) "
        "WHERE id = :t",
        h=hours + 1,
        t=uuid.UUID(waiting["id"]),
    )
    await worker.run("close_waiting")
    await worker.run("close_waiting")
    r = await tickets_http.get(f"{API}/tickets/{waiting['id']}", headers=customer.headers)
    assert r.json()["status"] == "closed"
    assert [m["author_kind"] for m in r.json()["messages"]] == ["customer", "staff", "system"]
    r = await tickets_http.get(f"{API}/tickets/{fresh['id']}", headers=customer.headers)
    assert r.json()["status"] == "waiting_customer"
    rows = await sql(
        tickets_db,
        "SELECT count(*) FROM tickets.outgoing_emails WHERE ticket_id = :t "
        "AND notification_key LIKE 'auto_closed:%'",
        t=uuid.UUID(waiting["id"]),
    )
    assert rows == [(1,)]
    events = await sql(
        tickets_db,
        "SELECT kind FROM tickets.ticket_events WHERE ticket_id = :t AND kind = 'auto_closed'",
        t=uuid.UUID(waiting["id"]),
    )
    assert events == [("auto_closed",)]


async def test_links_are_checked_with_the_owning_service_and_incidents_link_tickets(
    tickets_http, tickets_db, worker, services, person, staff, admin
) -> None:
    department = await make_department(tickets_http, admin)
    customer = person()
    app_id, other_app, incident_id = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    services.answers[f"/api/deploy/v1/apps/{app_id}"] = (
        200,
        {
            "id": str(app_id),
            "owner_id": str(customer.id),
            "slug": "shop",
            "name": "Shop",
            "status": "running",
            "current_release": {"id": str(uuid.uuid4()), "number": 7},
        },
    )
    services.answers[f"/api/deploy/v1/apps/{other_app}"] = (404, {"error": {"code": "not_found"}})
    services.answers["/api/billing/v1/account"] = (
        200,
        {"balance": 1234, "balance_display": "12.34", "currency": "EUR", "state": "active"},
    )

    # someone else's app (deploy says 404 to the customer's token): refused
    r = await tickets_http.post(
        f"{API}/tickets",
        json={
            "department": department["slug"],
            "subject": "x",
            "body": "y",
            "link": {"kind": "app", "id": str(other_app)},
        },
        headers=customer.headers,
    )
    assert r.status_code == 404 and r.json()["error"]["code"] == "link_not_found"
    # monitoring down: an incident link cannot be checked, so it is refused for now
    r = await tickets_http.post(
        f"{API}/tickets",
        json={
            "department": department["slug"],
            "subject": "x",
            "body": "y",
            "link": {"kind": "incident", "id": str(incident_id)},
        },
        headers=customer.headers,
    )
    assert r.status_code == 503 and r.json()["error"]["code"] == "link_unverifiable"

    # monitoring says the app is in an incident
    payload = {
        "incident_id": str(incident_id),
        "owner_id": str(customer.id),
        "group_key": f"app:{app_id}",
        "title": "Shop is down",
        "opened_at": None,
    }
    await worker.run("incident_opened", payload=payload, event={})
    ticket = await open_ticket(
        tickets_http, customer, department, link={"kind": "app", "id": str(app_id)}
    )
    asked = [req for req in services.seen if req.url.path.endswith(str(app_id))]
    assert asked and asked[-1].headers["authorization"] == f"Bearer {customer.token}"

    r = await tickets_http.get(f"{API}/staff/tickets/{ticket['id']}", headers=staff.headers)
    detail = r.json()
    assert [i["id"] for i in detail["incidents"]] == [str(incident_id)]
    assert detail["context"]["app"]["data"]["current_release"]["number"] == 7
    assert detail["context"]["account"]["data"]["balance"] == 1234
    assert (
        detail["context"]["logs"]["ok"] is False
        and "unavailable" in detail["context"]["logs"]["note"]
    )

    # a second ticket of the same incident, then one reply to both when it resolves
    second = await open_ticket(
        tickets_http, customer, department, link={"kind": "app", "id": str(app_id)}
    )
    await worker.run("incident_resolved", payload={**payload, "resolved_at": None}, event={})
    await worker.run(
        "incident_opened", payload=payload, event={}
    )  # a late duplicate: still resolved
    rows = await sql(
        tickets_db, "SELECT status FROM tickets.incidents WHERE id = :i", i=incident_id
    )
    assert rows == [("resolved",)]
    r = await tickets_http.post(
        f"{API}/staff/incidents/{incident_id}/replies",
        json={"body": "Fixed: the node is back."},
        headers=staff.headers,
    )
    assert r.status_code == 200, r.text
    assert set(r.json()["replied"]) == {ticket["id"], second["id"]}
    for t in (ticket, second):
        r = await tickets_http.get(f"{API}/tickets/{t['id']}", headers=customer.headers)
        assert r.json()["messages"][-1]["body"] == "Fixed: the node is back."
        assert r.json()["status"] == "waiting_customer"
    r = await tickets_http.post(
        f"{API}/staff/incidents/{uuid.uuid4()}/replies", json={"body": "x"}, headers=staff.headers
    )
    assert r.status_code == 404
