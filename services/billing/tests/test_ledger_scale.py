"""The ledger at scale keeps its rules: credits spread over the provider clearing shards lose
and double nothing, the shards add up to what one account would hold, references of entries
and usage charges are still refused when they point nowhere, and an hour's charges and their
journal entries are written together or not at all."""

import asyncio
import uuid
from datetime import timedelta

import pytest
from fixtures_billing import API, a_past_hour, balance, event_body, signed, sql, top_up, wallet
from sqlalchemy.exc import DBAPIError
from test_metering import charge, charges_of, deploy_event, make_plan, started, stopped

from berth_billing.accounts.dao import AccountDAO
from berth_billing.metering import service as metering


def key() -> dict[str, str]:
    return {"Idempotency-Key": uuid.uuid4().hex}


async def clearing_totals(db, currency: str) -> tuple[int, int, int]:
    """provider_clearing as reconciliation reads it: (sum of shards, sum of entries, shards)."""
    async with db() as session:
        rows = await AccountDAO(session).system_balances()
    [row] = [r for r in rows if (r.kind, r.currency) == ("provider_clearing", currency)]
    return row.balance, row.entries, row.shards


async def what_one_account_would_hold(db, currency: str) -> int:
    """The clearing account's balance from the payments alone: minus what was paid in, plus
    what was refunded."""
    [(paid, refunded)] = await sql(
        db,
        "SELECT COALESCE(sum(amount), 0), COALESCE(sum(refunded_amount), 0) "
        "FROM billing.payments WHERE status = 'succeeded' AND currency = :c",
        c=currency,
    )
    return -int(paid) + int(refunded)


async def test_concurrent_credits_spread_over_the_shards_and_none_is_lost_or_doubled(
    billing_http, billing_db, billing_settings, person
):
    people = [person() for _ in range(40)]
    payments = []
    for n, who in enumerate(people):
        r = await billing_http.post(f"{API}/topups", json={"amount": 500 + n}, headers=who.headers)
        assert r.status_code == 201, r.text
        payments.append(r.json())
    # each payment's success arrives three times, as two events (a provider retrying)
    deliveries = []
    for p in payments:
        first, second = event_body(billing_settings, p), event_body(billing_settings, p)
        deliveries += [first, first, second]
    gate = asyncio.Semaphore(12)  # within the app's connection pool, as uvicorn would queue

    async def deliver(body: bytes):
        async with gate:
            return await billing_http.post(
                f"{API}/webhooks/sandbox", content=body, headers=signed(billing_settings, body)
            )

    answers = await asyncio.gather(*(deliver(b) for b in deliveries))
    assert {a.status_code for a in answers} == {200}
    assert sum(a.json()["outcome"] == "credited" for a in answers) == len(payments)

    rows = await sql(
        billing_db,
        "SELECT t.key, e.amount, a.kind, a.shard FROM billing.ledger_transactions t "
        "JOIN billing.ledger_entries e ON e.transaction_id = t.id "
        "JOIN billing.accounts a ON a.id = e.account_id WHERE t.key = ANY(:keys) "
        "ORDER BY t.key, e.amount",
        keys=[f"payment:{p['id']}" for p in payments],
    )
    assert len(rows) == 2 * len(payments)  # one transaction of two legs per payment
    shards = set()
    for p in payments:
        clearing, credit = _legs_of(rows, p["id"])
        assert credit[1:3] == (p["amount"], "wallet")
        assert clearing[1:3] == (-p["amount"], "provider_clearing")
        assert clearing[3] == uuid.UUID(p["id"]).int % billing_settings.clearing_shards
        shards.add(clearing[3])
    assert len(shards) > 1, "the credits all went to one clearing row"
    for who, p in zip(people, payments, strict=True):
        assert await balance(billing_http, who) == p["amount"]

    held, entries, count = await clearing_totals(billing_db, billing_settings.currency)
    assert (
        held == entries == await what_one_account_would_hold(billing_db, billing_settings.currency)
    )
    assert count >= len(shards)
    [(stale,)] = await sql(
        billing_db,
        "SELECT count(*) FROM billing.accounts a WHERE a.balance <> "
        "(SELECT COALESCE(sum(e.amount), 0) FROM billing.ledger_entries e "
        "WHERE e.account_id = a.id)",
    )
    assert stale == 0


def _legs_of(rows, payment_id: str) -> tuple[tuple, tuple]:
    legs = [tuple(r) for r in rows if r[0] == f"payment:{payment_id}"]
    assert len(legs) == 2
    return legs[0], legs[1]  # ordered by amount: the clearing debit, then the wallet credit


async def test_a_refund_goes_back_through_its_payments_clearing_shard(
    billing_http, billing_db, billing_settings, admin_headers, person
):
    alice = person()
    payment = await top_up(billing_http, billing_settings, alice, 900)
    r = await billing_http.post(
        f"{API}/admin/payments/{payment['id']}/refunds",
        json={"amount": 400, "reason": "partial"},
        headers={**admin_headers, **key()},
    )
    assert r.status_code == 201, r.text
    shards = await sql(
        billing_db,
        "SELECT t.kind, a.shard, e.amount FROM billing.ledger_entries e "
        "JOIN billing.ledger_transactions t ON t.id = e.transaction_id "
        "JOIN billing.accounts a ON a.id = e.account_id "
        "WHERE a.kind = 'provider_clearing' AND t.id IN "
        "(SELECT transaction_id FROM billing.ledger_entries WHERE account_id = :w) "
        "ORDER BY t.created_at",
        w=(await wallet(billing_db, alice.id)).id,
    )
    shard = uuid.UUID(payment["id"]).int % billing_settings.clearing_shards
    assert [tuple(s) for s in shards] == [("topup", shard, -900), ("refund", shard, 400)]
    assert await balance(billing_http, alice) == 500
    held, entries, _ = await clearing_totals(billing_db, billing_settings.currency)
    assert (
        held == entries == await what_one_account_would_hold(billing_db, billing_settings.currency)
    )


async def test_references_of_entries_and_charges_are_refused_when_they_point_nowhere(
    billing_db, billing_settings
):
    currency = billing_settings.currency
    async with billing_db() as session, session.begin():
        accounts = AccountDAO(session)
        account = (await accounts.ensure_wallet(uuid.uuid4(), currency)).id
        other = await accounts.system_account("adjustments", currency)
    txn = uuid.uuid4()
    await sql(
        billing_db,
        "INSERT INTO billing.ledger_transactions (id, kind, key, description, caused_by) "
        "VALUES (:t, 'adjustment', :k, 'test', 'test')",
        t=txn,
        k=f"test:{txn}",
    )
    insert = (
        "INSERT INTO billing.ledger_entries (transaction_id, account_id, amount, currency, kind,"
        " occurred_at) VALUES (:t, :a, 100, :c, 'adjustment', now()),"
        " (:t, :b, -100, :c, 'adjustment', now())"
    )
    with pytest.raises(DBAPIError, match=r"ledger account .* does not exist"):
        await sql(billing_db, insert, t=txn, a=account, b=uuid.uuid4(), c=currency)
    with pytest.raises(DBAPIError, match=r"journal transaction .* does not exist"):
        await sql(billing_db, insert, t=uuid.uuid4(), a=account, b=other, c=currency)
    await sql(billing_db, insert, t=txn, a=account, b=other, c=currency)
    for statement in (
        "DELETE FROM billing.accounts WHERE id = :a",
        "UPDATE billing.accounts SET id = gen_random_uuid() WHERE id = :a",
        "TRUNCATE billing.accounts CASCADE",
    ):
        with pytest.raises(DBAPIError, match="permanent"):
            await sql(billing_db, statement, a=account)
    charge_row = (
        "INSERT INTO billing.usage_charges (instance_id, hour, account_id, plan_key, minutes,"
        " unit_price, amount, currency, transaction_id) VALUES"
        " (gen_random_uuid(), '2001-01-01T00:00Z', :a, 'web-small', 60, 1, 1, :c, :t)"
    )
    with pytest.raises(DBAPIError, match=r"ledger account .* does not exist"):
        await sql(billing_db, charge_row, a=uuid.uuid4(), c=currency, t=txn)
    with pytest.raises(DBAPIError, match=r"journal transaction .* does not exist"):
        await sql(billing_db, charge_row, a=account, c=currency, t=uuid.uuid4())
    async with billing_db() as session:
        assert await AccountDAO(session).balance_from_entries(account) == 100


async def test_an_hour_killed_half_way_leaves_nothing_and_the_rerun_charges_it_once(
    billing_db, billing_settings
):
    hour = a_past_hour()
    plan = await make_plan(billing_db, [(hour - timedelta(days=1), 120)])
    owners = [uuid.uuid4() for _ in range(3)]
    for owner in owners:
        instance = uuid.uuid4()
        await deploy_event(
            billing_db,
            billing_settings,
            "deploy.instance.started",
            **started(instance, owner, plan, hour - timedelta(hours=2)),
        )
        await deploy_event(
            billing_db,
            billing_settings,
            "deploy.instance.stopped",
            **stopped(instance, owner, plan, hour + timedelta(hours=1)),
        )

    class Killed(Exception):
        pass

    with pytest.raises(Killed):
        async with billing_db() as session, session.begin():
            run = await metering.charge_hour(session, hour, triggered_by="test", full=True)
            assert run.charges == 3
            raise Killed  # the worker dies before its transaction commits
    for owner in owners:
        assert await charges_of(billing_db, owner) == []
        assert (await wallet(billing_db, owner)).balance == 0
    [(journal,)] = await sql(
        billing_db,
        "SELECT count(*) FROM billing.ledger_transactions WHERE key LIKE :k",
        k=f"usage:{hour:%Y-%m-%dT%H}:%",
    )
    assert journal == 0

    first = await charge(billing_db, hour, full=True)
    again = await charge(billing_db, hour, full=True)
    assert (first.charges, first.amount) == (3, 360)
    assert (again.charges, again.amount) == (0, 0)
    for owner in owners:
        assert [c[3] for c in await charges_of(billing_db, owner)] == [120]
        assert (await wallet(billing_db, owner)).balance == -120
    rows = await sql(
        billing_db,
        "SELECT a.kind, e.amount FROM billing.ledger_entries e "
        "JOIN billing.ledger_transactions t ON t.id = e.transaction_id "
        "JOIN billing.accounts a ON a.id = e.account_id WHERE t.key LIKE :k ORDER BY e.amount",
        k=f"usage:{hour:%Y-%m-%dT%H}:%",
    )
    assert [tuple(r) for r in rows] == [("wallet", -120)] * 3 + [("revenue", 360)]
