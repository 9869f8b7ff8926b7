"""The desk through its API, in process: a ticket's life, who may see what, staff's tools."""

import uuid

from fixtures_tickets import API, make_department, open_ticket, sql


async def test_a_tickets_life_open_staff_reply_customer_reply_close_rate_reopen(
    tickets_http, tickets_db, person, staff, admin
) -> None:
    department = await make_department(tickets_http, admin)
    customer = person()
    ticket = await open_ticket(tickets_http, customer, department, priority="high")
    assert ticket["status"] == "open" and ticket["number"].startswith("T-")
    assert [m["author_kind"] for m in ticket["messages"]] == ["customer"]
    assert "context" not in ticket  # staff's, never the customer's
    tid = ticket["id"]

    r = await tickets_http.post(
        f"{API}/staff/tickets/{tid}/replies",
        json={"body": "Which region is the app in?"},
        headers=staff.headers,
    )
    assert r.status_code == 201, r.text
    r = await tickets_http.get(f"{API}/tickets/{tid}", headers=customer.headers)
    assert r.json()["status"] == "waiting_customer"
    assert [m["author_kind"] for m in r.json()["messages"]] == ["customer", "staff"]

    r = await tickets_http.post(
        f"{API}/tickets/{tid}/messages", json={"body": "eu-west"}, headers=customer.headers
    )
    assert r.status_code == 201, r.text
    r = await tickets_http.get(f"{API}/staff/tickets/{tid}", headers=staff.headers)
    staff_view = r.json()
    assert staff_view["status"] == "open" and staff_view["first_responded_at"] is not None
    assert "account" in staff_view["context"]  # gathered at creation (or a note why not)
    assert [e["kind"] for e in staff_view["events"]][:1] == ["opened"]

    r = await tickets_http.post(
        f"{API}/tickets/{tid}/rating", json={"rating": 5}, headers=customer.headers
    )
    assert r.status_code == 409  # not closed yet
    r = await tickets_http.post(f"{API}/tickets/{tid}/close", headers=customer.headers)
    assert r.status_code == 200 and r.json()["status"] == "closed" and r.json()["closed_at"]
    r = await tickets_http.post(
        f"{API}/tickets/{tid}/messages", json={"body": "one more thing"}, headers=customer.headers
    )
    assert r.status_code == 409 and r.json()["error"]["code"] == "ticket_not_active"
    r = await tickets_http.post(
        f"{API}/tickets/{tid}/rating",
        json={"rating": 4, "comment": "quick"},
        headers=customer.headers,
    )
    assert r.status_code == 200 and r.json()["rating"] == 4
    r = await tickets_http.post(
        f"{API}/tickets/{tid}/reopen", json={"body": "It broke again"}, headers=customer.headers
    )
    assert r.status_code == 200 and r.json()["status"] == "open" and r.json()["rating"] is None
    r = await tickets_http.get(f"{API}/staff/tickets/{tid}", headers=staff.headers)
    assert r.json()["reopened_count"] == 1
    kinds = [e["kind"] for e in r.json()["events"]]
    assert {"closed", "rated", "reopened"} <= set(kinds)

    # the customer was told of the staff reply once, through an outgoing email row
    rows = await sql(
        tickets_db,
        "SELECT template, recipient_id FROM tickets.outgoing_emails WHERE ticket_id = :t "
        "AND notification_key LIKE 'staff_replied:%'",
        t=uuid.UUID(tid),
    )
    assert rows == [("ticket_notice", customer.id)]


async def test_another_customer_sees_nothing_of_a_ticket(tickets_http, person, admin) -> None:
    department = await make_department(tickets_http, admin)
    alice, bob = person(), person()
    word = f"zebra{uuid.uuid4().hex[:6]}"
    ticket = await open_ticket(tickets_http, alice, department, subject=f"Invoice {word}")
    tid = ticket["id"]
    for method, path, body in (
        ("GET", f"/tickets/{tid}", None),
        ("POST", f"/tickets/{tid}/messages", {"body": "hi"}),
        ("POST", f"/tickets/{tid}/close", None),
        ("POST", f"/tickets/{tid}/reopen", None),
        ("POST", f"/tickets/{tid}/rating", {"rating": 1}),
    ):
        r = await tickets_http.request(method, f"{API}{path}", json=body, headers=bob.headers)
        assert r.status_code == 404, (method, path, r.text)
        assert r.json()["error"]["code"] == "ticket_not_found"
    r = await tickets_http.get(f"{API}/tickets", params={"q": word}, headers=bob.headers)
    assert r.status_code == 200 and r.json()["total"] == 0
    r = await tickets_http.get(f"{API}/tickets", headers=bob.headers)
    assert r.json()["total"] == 0
    r = await tickets_http.get(f"{API}/tickets", params={"q": word}, headers=alice.headers)
    assert [t["id"] for t in r.json()["items"]] == [tid]


async def test_internal_notes_never_reach_the_customer(
    tickets_http, tickets_db, person, staff, admin
) -> None:
    department = await make_department(tickets_http, admin)
    customer = person()
    ticket = await open_ticket(tickets_http, customer, department, body="plain question")
    tid = ticket["id"]
    secret = f"notesecret{uuid.uuid4().hex[:8]}"
    r = await tickets_http.post(
        f"{API}/staff/tickets/{tid}/notes",
        json={"body": f"customer is on the old plan {secret}"},
        headers=staff.headers,
    )
    assert r.status_code == 201, r.text
    r = await tickets_http.post(
        f"{API}/staff/tickets/{tid}/replies",
        json={"body": "Looking into it"},
        headers=staff.headers,
    )
    assert r.status_code == 201

    # staff see it, in its own list
    r = await tickets_http.get(f"{API}/staff/tickets/{tid}/notes", headers=staff.headers)
    assert [n["body"] for n in r.json()] == [f"customer is on the old plan {secret}"]
    # the customer: not in the ticket, its messages, the list or search
    for path, params in (
        (f"/tickets/{tid}", None),
        ("/tickets", None),
        ("/tickets", {"q": secret}),
    ):
        r = await tickets_http.get(f"{API}{path}", params=params, headers=customer.headers)
        assert r.status_code == 200 and secret not in r.text
    r = await tickets_http.get(f"{API}/tickets", params={"q": secret}, headers=customer.headers)
    assert r.json()["total"] == 0
    # nor any email queued for anyone
    rows = await sql(
        tickets_db,
        "SELECT count(*) FROM tickets.outgoing_emails WHERE body_text LIKE :s OR subject LIKE :s",
        s=f"%{secret}%",
    )
    assert rows == [(0,)]
    # and staff's search covers the public thread only, too
    r = await tickets_http.get(f"{API}/staff/tickets", params={"q": secret}, headers=staff.headers)
    assert r.json()["total"] == 0


async def test_staff_routes_refuse_customers_in_the_service(tickets_http, person, admin) -> None:
    department = await make_department(tickets_http, admin)
    customer = person()
    ticket = await open_ticket(tickets_http, customer, department)
    tid = ticket["id"]
    for method, path, body in (
        ("GET", "/staff/tickets", None),
        ("GET", f"/staff/tickets/{tid}", None),
        ("GET", f"/staff/tickets/{tid}/notes", None),
        ("POST", f"/staff/tickets/{tid}/notes", {"body": "x"}),
        ("POST", f"/staff/tickets/{tid}/replies", {"body": "x"}),
        ("PATCH", f"/staff/tickets/{tid}", {"priority": "urgent"}),
        ("POST", "/admin/departments", {"slug": "x", "name": "X"}),
    ):
        r = await tickets_http.request(method, f"{API}{path}", json=body, headers=customer.headers)
        assert r.status_code == 403, (method, path, r.text)
    r = await tickets_http.get(f"{API}/staff/tickets")
    assert r.status_code == 401


async def test_bad_inputs_are_clear_4xx(tickets_http, person, admin) -> None:
    department = await make_department(tickets_http, admin)
    customer = person()
    cases = [
        {"department": department["slug"], "subject": "", "body": "x"},
        {"department": department["slug"], "subject": "a", "body": "   "},
        {"department": department["slug"], "subject": "a\x00b", "body": "x"},
        {"department": department["slug"], "subject": "a", "body": "x", "priority": "asap"},
        {"department": department["slug"], "subject": "a", "body": "x" * 20_001},
        {
            "department": department["slug"],
            "subject": "a",
            "body": "x",
            "link": {"kind": "vps", "id": "1"},
        },
        {
            "department": department["slug"],
            "subject": "a",
            "body": "x",
            "owner_id": str(uuid.uuid4()),
        },
    ]
    for body in cases:
        r = await tickets_http.post(f"{API}/tickets", json=body, headers=customer.headers)
        assert r.status_code == 422, (body, r.text)
        assert "error" in r.json()
    r = await tickets_http.post(
        f"{API}/tickets",
        json={"department": "no-such-desk", "subject": "a", "body": "x"},
        headers=customer.headers,
    )
    assert r.status_code == 404 and r.json()["error"]["code"] == "department_not_found"
    # and that answer is one the API documents, for a person and for a service (the fuzz found
    # the 404 undeclared)
    document = (await tickets_http.get("/api/tickets/openapi.json")).json()
    for path in (f"{API}/tickets", f"{API}/service/tickets"):
        assert "404" in document["paths"][path]["post"]["responses"], path
    r = await tickets_http.get(f"{API}/tickets/not-a-uuid", headers=customer.headers)
    assert r.status_code == 422


async def test_canned_replies_fill_in_their_variables_once(
    tickets_http, person, staff, admin
) -> None:
    department = await make_department(tickets_http, admin, name="Billing")
    customer = person()
    # a subject that looks like a variable stays text: substitution is a single pass
    ticket = await open_ticket(tickets_http, customer, department, subject="Refund {{agent_name}}")
    r = await tickets_http.post(
        f"{API}/admin/canned-replies",
        json={"title": "Bad", "body": "Hello {{ customer.__class__ }} {{password}}"},
        headers=admin.headers,
    )
    assert r.status_code == 422
    r = await tickets_http.post(
        f"{API}/admin/canned-replies",
        json={
            "department_id": department["id"],
            "title": "Ack",
            "body": "About {{ticket_number}} ({{ticket_subject}}) in {{ department }}.",
        },
        headers=admin.headers,
    )
    assert r.status_code == 201, r.text
    canned = r.json()
    r = await tickets_http.get(
        f"{API}/staff/canned-replies",
        params={"department_id": department["id"]},
        headers=staff.headers,
    )
    assert canned["id"] in [c["id"] for c in r.json()]
    r = await tickets_http.post(
        f"{API}/staff/tickets/{ticket['id']}/replies",
        json={"canned_reply_id": canned["id"], "body": "We are on it.", "status": "open"},
        headers=staff.headers,
    )
    assert r.status_code == 201, r.text
    assert r.json()["body"] == (
        f"About {ticket['number']} (Refund {{{{agent_name}}}}) in Billing.\n\nWe are on it."
    )


async def test_merge_duplicates_of_one_customer(tickets_http, person, staff, admin) -> None:
    department = await make_department(tickets_http, admin)
    customer, other = person(), person()
    first = await open_ticket(tickets_http, customer, department, body="first copy")
    second = await open_ticket(tickets_http, customer, department, body="second copy")
    stranger = await open_ticket(tickets_http, other, department)
    r = await tickets_http.post(
        f"{API}/staff/tickets/{second['id']}/merge",
        json={"into_ticket_id": stranger["id"]},
        headers=staff.headers,
    )
    assert r.status_code == 409 and r.json()["error"]["code"] == "merge_refused"
    r = await tickets_http.post(
        f"{API}/staff/tickets/{second['id']}/merge",
        json={"into_ticket_id": first["id"]},
        headers=staff.headers,
    )
    assert r.status_code == 200, r.text
    r = await tickets_http.get(f"{API}/tickets/{second['id']}", headers=customer.headers)
    assert r.json()["status"] == "merged" and r.json()["merged_into"] == first["number"]
    r = await tickets_http.get(f"{API}/tickets/{first['id']}", headers=customer.headers)
    bodies = [m["body"] for m in r.json()["messages"]]
    assert "first copy" in bodies and "second copy" in bodies
    assert any(second["number"] in b for b in bodies)  # the system's note of the merge
    r = await tickets_http.post(f"{API}/tickets/{second['id']}/reopen", headers=customer.headers)
    assert r.status_code == 409


async def test_the_queue_filters_and_round_robin(
    tickets_http, tickets_db, services, person, staff, admin
) -> None:
    department = await make_department(tickets_http, admin)
    agents = [uuid.uuid4(), uuid.uuid4()]
    # only support staff take tickets: a customer is refused as an agent and as an assignee
    customer = person()
    services.person(customer)
    r = await tickets_http.put(
        f"{API}/admin/departments/{department['id']}/agents/{customer.id}",
        json={"is_active": True},
        headers=admin.headers,
    )
    assert r.status_code == 422 and r.json()["error"]["code"] == "not_support_staff"
    for agent in agents:
        services.person(agent, roles=("user", "support"))
    for agent in agents:
        r = await tickets_http.put(
            f"{API}/admin/departments/{department['id']}/agents/{agent}",
            json={"is_active": True},
            headers=admin.headers,
        )
        assert r.status_code == 200, r.text
    opened = [await open_ticket(tickets_http, customer, department) for _ in range(3)]
    assignees = []
    for t in opened:
        r = await tickets_http.get(f"{API}/staff/tickets/{t['id']}", headers=staff.headers)
        assignees.append(uuid.UUID(r.json()["assignee_id"]))
    # round-robin: each agent in turn, the one assigned longest ago first
    assert assignees[0] != assignees[1] and assignees[2] == assignees[0]
    assert set(assignees) == set(agents)

    r = await tickets_http.get(
        f"{API}/staff/tickets",
        params={"department": department["slug"], "assignee": str(agents[0])},
        headers=staff.headers,
    )
    mine = {t["id"] for t in r.json()["items"]}
    assert mine == {t["id"] for t, a in zip(opened, assignees, strict=True) if a == agents[0]}

    r = await tickets_http.post(
        f"{API}/staff/tickets/{opened[0]['id']}/assign",
        json={"assignee_id": str(customer.id)},
        headers=staff.headers,
    )
    assert r.status_code == 422 and r.json()["error"]["code"] == "not_support_staff"
    nobody = uuid.uuid4()
    services.answers[f"/api/auth/v1/users/{nobody}"] = (404, {"error": {"code": "not_found"}})
    r = await tickets_http.post(
        f"{API}/staff/tickets/{opened[0]['id']}/assign",
        json={"assignee_id": str(nobody)},
        headers=staff.headers,
    )
    assert r.status_code == 422
    r = await tickets_http.post(
        f"{API}/staff/tickets/{opened[0]['id']}/assign",
        json={"assignee_id": None},
        headers=staff.headers,
    )
    assert r.status_code == 200 and r.json()["assignee_id"] is None
    r = await tickets_http.get(
        f"{API}/staff/tickets",
        params={"department": department["slug"], "assignee": "none"},
        headers=staff.headers,
    )
    assert [t["id"] for t in r.json()["items"]] == [opened[0]["id"]]

    # SLA filter: one ticket's first response is overdue
    await sql(
        tickets_db,
        "UPDATE tickets.tickets SET first_response_due_at = now() - interval '1 minute' "
        "WHERE id = :t",
        t=uuid.UUID(opened[1]["id"]),
    )
    r = await tickets_http.get(
        f"{API}/staff/tickets",
        params={"department": department["slug"], "sla": "breached"},
        headers=staff.headers,
    )
    assert [t["id"] for t in r.json()["items"]] == [opened[1]["id"]]
    assert r.json()["items"][0]["sla"]["state"] == "breached"
    r = await tickets_http.get(
        f"{API}/staff/tickets",
        params={"department": department["slug"], "sla": "ok"},
        headers=staff.headers,
    )
    assert opened[1]["id"] not in {t["id"] for t in r.json()["items"]}
    for bad in ({"sla": "late"}, {"assignee": "-" * 36}, {"assignee": "someone"}):
        r = await tickets_http.get(f"{API}/staff/tickets", params=bad, headers=staff.headers)
        assert r.status_code == 422, bad
