"""An account's tier through Traefik: an admin sets it (a person cannot), billing announces it
over RabbitMQ, chat keeps the customer's messages for that tier and tickets gives their next
ticket that tier; a machine client reads it with billing:read."""

import uuid

import httpx
from billing_e2e import API, sign_in, sql

from berth_testing.oauth import bearer
from berth_testing.processes import wait_until


def machine_token(edge: httpx.Client, admin: dict[str, str], scopes: list[str]) -> dict:
    r = edge.post(
        "/api/auth/v1/admin/clients",
        json={"name": f"tiers {' '.join(scopes)}", "scopes": scopes},
        headers=admin,
    )
    assert r.status_code == 201, r.text
    client = r.json()
    r = edge.post(
        "/oauth/token",
        data={"grant_type": "client_credentials"},
        auth=(client["client_id"], client["client_secret"]),
    )
    assert r.status_code == 200, r.text
    return bearer(r.json()["access_token"])


def test_an_admin_sets_a_tier_and_chat_and_tickets_follow_it(
    edge, platform, register_verified, admin_token, berth_env
):
    db = berth_env["DATABASE_URL"]
    admin = bearer(admin_token)
    alice = sign_in(edge, register_verified())
    account = edge.get(f"{API}/account", headers=alice.headers).json()
    assert account["tier"] == "standard"
    standard_days = edge.get("/api/chat/v1/retention", headers=alice.headers).json()
    assert standard_days["tier"] == "standard"
    url = f"{API}/admin/accounts/{account['id']}/tier"

    # a person may not upgrade themselves: refused at the gateway
    r = edge.put(url, json={"tier": "pro"}, headers=alice.headers)
    assert r.status_code == 403 and "error" in r.json()
    r = edge.put(url, json={"tier": "platinum"}, headers=admin)
    assert r.status_code == 422 and r.json()["error"]["code"] == "unknown_tier"

    r = edge.put(url, json={"tier": "pro", "reason": "e2e"}, headers=admin)
    assert r.status_code == 200, r.text
    assert r.json()["changed"] is True
    assert edge.get(f"{API}/account", headers=alice.headers).json()["tier"] == "pro"

    # chat hears it from billing's event (billing's outbox -> RabbitMQ -> chat's worker)
    def chat_retention() -> dict:
        return edge.get("/api/chat/v1/retention", headers=alice.headers).json()

    wait_until(lambda: chat_retention()["tier"] == "pro", 60, "chat to learn the tier")
    assert chat_retention()["days"] > standard_days["days"]

    # tickets too: alice's next ticket is a pro ticket under the pro SLA policy
    wait_until(
        lambda: (
            sql(db, "SELECT tier FROM tickets.account_tiers WHERE owner_id = :o", o=alice.id)
            == [("pro",)]
        ),
        60,
        "tickets to learn the tier",
    )
    r = edge.post(
        "/api/tickets/v1/admin/sla-policies",
        json={
            "plan_tier": "pro",
            "priority": "normal",
            "first_response_minutes": 30,
            "next_response_minutes": 60,
            "resolution_minutes": 600,
        },
        headers=admin,
    )
    assert r.status_code in (201, 409), r.text
    slug = f"tiers-{uuid.uuid4().hex[:6]}"
    r = edge.post(
        "/api/tickets/v1/admin/departments", json={"slug": slug, "name": "Tiers"}, headers=admin
    )
    assert r.status_code == 201, r.text
    r = edge.post(
        "/api/tickets/v1/tickets",
        json={"department": slug, "subject": "Pro question", "body": "Hello from a pro."},
        headers=alice.headers,
    )
    assert r.status_code == 201, r.text
    [(tier, policy_tier)] = sql(
        db,
        "SELECT t.plan_tier, p.plan_tier FROM tickets.tickets t "
        "JOIN tickets.sla_policies p ON p.id = t.sla_policy_id WHERE t.id = :i",
        i=r.json()["id"],
    )
    assert (tier, policy_tier) == ("pro", "pro")

    # other teams read it with billing:read, checked at the gateway
    reader = machine_token(edge, admin, ["billing:read"])
    stranger = machine_token(edge, admin, ["deploy:read"])
    tier_url = f"{API}/accounts/by-owner/{alice.id}/tier"
    r = edge.get(tier_url, headers=reader)
    assert r.status_code == 200 and r.json()["tier"] == "pro", r.text
    r = edge.get(tier_url, headers=stranger)
    assert r.status_code == 403 and "error" in r.json()
    assert edge.get(tier_url, headers=alice.headers).status_code == 403
