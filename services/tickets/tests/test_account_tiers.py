"""A new ticket gets its customer's tier from billing's events (the SLA policy of that tier);
a later change of tier leaves open tickets as they started."""

import uuid
from datetime import UTC, datetime, timedelta

from fixtures_tickets import API, make_department, open_ticket, sql

from berth_tickets.sla import tiers


def _event(owner, tier: str, at: datetime) -> dict:
    return {"owner_id": str(owner.id), "tier": tier, "changed_at": at.isoformat()}


async def _record(db, payload: dict) -> bool:
    async with db() as session, session.begin():
        return await tiers.tier_changed(session, payload)


async def _policy(http, admin, tier: str, first_response_minutes: int) -> dict:
    r = await http.post(
        f"{API}/admin/sla-policies",
        json={
            "plan_tier": tier,
            "priority": "normal",
            "first_response_minutes": first_response_minutes,
            "next_response_minutes": first_response_minutes,
            "resolution_minutes": first_response_minutes * 10,
        },
        headers=admin.headers,
    )
    assert r.status_code == 201, r.text
    return r.json()


async def _ticket_row(db, ticket_id: str) -> tuple[str, uuid.UUID | None]:
    [(tier, policy_id)] = await sql(
        db, "SELECT plan_tier, sla_policy_id FROM tickets.tickets WHERE id = :i", i=ticket_id
    )
    return tier, policy_id


async def test_a_pro_customers_ticket_gets_the_pro_sla_and_keeps_it_after_a_tier_change(
    tickets_http, tickets_db, tickets_settings, admin, staff, person
):
    pro = f"pro-{uuid.uuid4().hex[:6]}"  # a tier of this test's own (policies are shared)
    business = f"biz-{uuid.uuid4().hex[:6]}"
    pro_policy = await _policy(tickets_http, admin, pro, 30)
    business_policy = await _policy(tickets_http, admin, business, 10)
    department = await make_department(tickets_http, admin)
    alice, bob = person(), person()
    now = datetime.now(UTC)
    assert await _record(tickets_db, _event(alice, pro, now - timedelta(minutes=1)))

    first = await open_ticket(tickets_http, alice, department)
    assert await _ticket_row(tickets_db, first["id"]) == (pro, uuid.UUID(pro_policy["id"]))
    r = await tickets_http.get(f"{API}/staff/tickets/{first['id']}", headers=staff.headers)
    assert r.status_code == 200 and r.json()["plan_tier"] == pro
    opened = datetime.fromisoformat(r.json()["created_at"])
    due = datetime.fromisoformat(r.json()["sla"]["due"]["first_response"])
    assert due - opened == timedelta(minutes=30)

    # a customer billing never announced: TICKETS_DEFAULT_PLAN_TIER
    other = await open_ticket(tickets_http, bob, department)
    assert (await _ticket_row(tickets_db, other["id"]))[0] == tickets_settings.default_plan_tier

    # alice moves up: her open ticket keeps its tier and SLA, her next one follows the move
    assert await _record(tickets_db, _event(alice, business, now))
    assert await _ticket_row(tickets_db, first["id"]) == (pro, uuid.UUID(pro_policy["id"]))
    second = await open_ticket(tickets_http, alice, department, subject="Another question")
    assert await _ticket_row(tickets_db, second["id"]) == (
        business,
        uuid.UUID(business_policy["id"]),
    )


async def test_an_older_tier_event_arriving_late_does_not_win(tickets_db, tickets_settings, person):
    alice = person()
    now = datetime.now(UTC)
    assert await _record(tickets_db, _event(alice, "business", now))
    assert not await _record(tickets_db, _event(alice, "pro", now - timedelta(seconds=1)))
    assert not await _record(tickets_db, {"owner_id": str(alice.id), "tier": "pro"})
    async with tickets_db() as session:
        assert await tiers.plan_tier_of(session, tickets_settings, alice.id) == "business"
