"""A platform service (chat) opens a ticket on a customer's behalf: machine clients with
tickets:write only; the customer then sees it as their own, the transcript its first message."""

import os
import uuid

from fixtures_tickets import API, make_department

from berth_testing.oauth import bearer, mint_access_token


def machine(signing_jwks, scope: str) -> dict[str, str]:
    client = f"svc-{uuid.uuid4().hex[:8]}"
    token = mint_access_token(
        signing_jwks,
        issuer=os.environ["BERTH_PUBLIC_URL"],
        subject=client,
        client_id=client,
        roles=[],
        scope=scope,
    )
    return bearer(token)


async def test_a_service_opens_a_ticket_for_a_customer(
    tickets_http, signing_jwks, person, staff, admin
) -> None:
    department = await make_department(tickets_http, admin)
    customer = person()
    transcript = "Chat transcript\n[customer] my agent is down\n[agent] sorry"
    body = {
        "owner_id": str(customer.id),
        "department": department["slug"],
        "subject": "From chat: my agent is down",
        "body": transcript,
    }
    url = f"{API}/service/tickets"
    r = await tickets_http.post(url, json=body, headers=machine(signing_jwks, "tickets:write"))
    assert r.status_code == 201, r.text
    ticket = r.json()
    assert ticket["status"] == "open"
    assert [m["body"] for m in ticket["messages"]] == [transcript]

    r = await tickets_http.get(f"{API}/tickets/{ticket['id']}", headers=customer.headers)
    assert r.status_code == 200 and r.json()["subject"] == "From chat: my agent is down"

    # people open their own tickets; a client without the scope cannot; bad input is a 422
    assert (await tickets_http.post(url, json=body, headers=customer.headers)).status_code == 403
    assert (await tickets_http.post(url, json=body, headers=staff.headers)).status_code == 403
    r = await tickets_http.post(url, json=body, headers=machine(signing_jwks, "deploy:read"))
    assert r.status_code == 403 and r.json()["error"]["code"] == "insufficient_scope"
    assert (await tickets_http.post(url, json=body)).status_code == 401
    r = await tickets_http.post(
        url,
        json={**body, "owner_id": "not-a-uuid"},
        headers=machine(signing_jwks, "tickets:write"),
    )
    assert r.status_code == 422
