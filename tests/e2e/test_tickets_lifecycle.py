"""The support desk through Traefik, as its people use it: a customer opens a ticket, support
answers, the customer answers back, closes and reopens it; notices reach the dev mailbox;
staff routes are refused to customers at the gateway; notes stay staff's."""

import uuid

import httpx
import pytest
from support import PASSWORD

from berth_testing.oauth import bearer, password_login
from berth_testing.platform import mail_text

API = "/api/tickets/v1"


def token_of(edge: httpx.Client, email: str) -> dict[str, str]:
    r = password_login(edge, email, PASSWORD)
    assert r.status_code == 200, r.text
    return bearer(r.json()["access_token"])


@pytest.fixture(scope="module")
def desk(platform, register_verified, admin_token) -> dict:
    """A department, a customer and a support person (role granted by an admin)."""
    admin = bearer(admin_token)
    with httpx.Client(base_url=platform.public_url, timeout=30) as edge:
        slug = f"tech-{uuid.uuid4().hex[:6]}"
        r = edge.post(
            f"{API}/admin/departments", json={"slug": slug, "name": "Technical"}, headers=admin
        )
        assert r.status_code == 201, r.text
        customer_email, support_email = register_verified(), register_verified()
        support_id = edge.get("/api/auth/v1/me", headers=token_of(edge, support_email)).json()["id"]
        r = edge.put(
            f"/api/auth/v1/admin/users/{support_id}/roles",
            json={"roles": ["user", "support"]},
            headers=admin,
        )
        assert r.status_code == 200, r.text
        return {
            "slug": slug,
            "customer_email": customer_email,
            "customer": token_of(edge, customer_email),
            "support": token_of(edge, support_email),  # signed in again: the role is in it
        }


def notices(platform, email: str, number: str) -> list[str]:
    return [mail_text(m) for m in platform.mails(email) if number in m.get("Subject", "")]


def test_open_staff_reply_customer_reply_close_reopen_through_traefik(platform, edge, desk) -> None:
    customer, support = desk["customer"], desk["support"]
    # a link to an app that is not theirs: deploy, asked with the customer's token, says no
    r = edge.post(
        f"{API}/tickets",
        json={
            "department": desk["slug"],
            "subject": "Deploy stuck",
            "body": "My deploy hangs at the build step.",
            "link": {"kind": "app", "id": str(uuid.uuid4())},
        },
        headers=customer,
    )
    assert r.status_code == 404 and r.json()["error"]["code"] == "link_not_found", r.text
    r = edge.post(
        f"{API}/tickets",
        json={
            "department": desk["slug"],
            "subject": "Deploy stuck",
            "body": "My deploy hangs at the build step.",
            "priority": "high",
        },
        headers=customer,
    )
    assert r.status_code == 201, r.text
    ticket = r.json()
    tid, number = ticket["id"], ticket["number"]

    # staff's routes: refused to the customer at the gateway; support sees the ticket with
    # the context gathered from billing on the customer's behalf
    assert edge.get(f"{API}/staff/tickets", headers=customer).status_code == 403
    assert edge.get(f"{API}/staff/tickets/{tid}", headers=customer).status_code == 403
    r = edge.get(f"{API}/staff/tickets/{tid}", headers=support)
    assert r.status_code == 200, r.text
    assert r.json()["context"]["account"]["ok"] is True, r.json()["context"]
    assert "balance" in r.json()["context"]["account"]["data"]

    r = edge.post(
        f"{API}/staff/tickets/{tid}/notes",
        json={"body": "internal: customer on legacy builder"},
        headers=support,
    )
    assert r.status_code == 201
    r = edge.post(
        f"{API}/staff/tickets/{tid}/replies",
        json={"body": "Could you retry with a clean cache?"},
        headers=support,
    )
    assert r.status_code == 201, r.text
    r = edge.get(f"{API}/tickets/{tid}", headers=customer)
    assert r.json()["status"] == "waiting_customer"
    assert "legacy builder" not in r.text

    # the worker sent the notices (address from auth's directory, svc-tickets' own token)
    platform.wait_for_mail(desk["customer_email"], count=3, timeout=60)  # + the sign-up code
    texts = notices(platform, desk["customer_email"], number)
    assert any("Support answered your ticket" in t for t in texts), texts
    assert any("Could you retry with a clean cache?" in t for t in texts)
    assert not any("legacy builder" in t for t in texts)

    r = edge.post(
        f"{API}/tickets/{tid}/messages", json={"body": "Retried, it works now."}, headers=customer
    )
    assert r.status_code == 201, r.text
    r = edge.get(f"{API}/staff/tickets/{tid}", headers=support)
    assert r.json()["status"] == "open"

    r = edge.post(f"{API}/tickets/{tid}/close", headers=customer)
    assert r.status_code == 200 and r.json()["status"] == "closed"
    r = edge.post(f"{API}/tickets/{tid}/reopen", json={"body": "Broken again"}, headers=customer)
    assert r.status_code == 200 and r.json()["status"] == "open", r.text
    r = edge.get(f"{API}/tickets/{tid}", headers=customer)
    assert [m["author_kind"] for m in r.json()["messages"]] == [
        "customer",
        "staff",
        "customer",
        "customer",
    ]
    r = edge.get(f"{API}/tickets", params={"q": "cache"}, headers=customer)
    assert [t["id"] for t in r.json()["items"]] == [tid]


def test_another_customer_cannot_reach_a_ticket_through_traefik(
    platform, edge, desk, register_verified
) -> None:
    r = edge.post(
        f"{API}/tickets",
        json={"department": desk["slug"], "subject": "Private matter", "body": "mine only"},
        headers=desk["customer"],
    )
    assert r.status_code == 201
    tid = r.json()["id"]
    stranger = token_of(edge, register_verified())
    assert edge.get(f"{API}/tickets/{tid}", headers=stranger).status_code == 404
    r = edge.get(f"{API}/tickets", params={"q": "private"}, headers=stranger)
    assert r.status_code == 200 and r.json()["total"] == 0
    assert edge.get(f"{API}/tickets/{tid}").status_code == 401
