"""Hourly metering: intervals from deploy's events, charged per instance-hour exactly once."""

import asyncio
import uuid
from datetime import UTC, datetime, timedelta

from fixtures_billing import API, a_past_hour, sql, wallet

from berth_billing.accounts.dao import AccountDAO
from berth_billing.enums import AccountKind
from berth_billing.metering import service as metering


async def make_plan(db, prices: list[tuple[datetime, int]]) -> str:
    """A plan of this test's own with a price history (hour, amount per hour)."""
    key = f"t-{uuid.uuid4().hex[:12]}"
    await sql(db, "INSERT INTO billing.plans (key, name) VALUES (:k, 'test plan')", k=key)
    for valid_from, amount in prices:
        await sql(
            db,
            "INSERT INTO billing.plan_prices (plan_key, amount_per_hour, currency, valid_from,"
            " created_by) VALUES (:k, :a, 'EUR', :v, 'test')",
            k=key,
            a=amount,
            v=valid_from,
        )
    return key


async def deploy_event(db, settings, key: str, **payload) -> None:
    async with db() as session, session.begin():
        assert await metering.record_instance_event(session, settings, key, payload)


def started(instance, owner, plan, at: datetime) -> dict:
    return dict(
        instance_id=str(instance),
        app_id=str(uuid.uuid5(uuid.NAMESPACE_OID, str(owner))),
        app_slug="shop",
        owner_id=str(owner),
        plan_key=plan,
        started_at=at.isoformat(),
    )


def stopped(instance, owner, plan, at: datetime, reason="stopped") -> dict:
    return dict(
        instance_id=str(instance),
        app_id=str(uuid.uuid5(uuid.NAMESPACE_OID, str(owner))),
        owner_id=str(owner),
        plan_key=plan,
        stopped_at=at.isoformat(),
        reason=reason,
    )


async def run_instance(
    db, settings, owner, plan: str, begin: datetime, end: datetime | None = None
) -> uuid.UUID:
    """A new instance of the owner's, running from `begin` (until `end` if given)."""
    instance = uuid.uuid4()
    await deploy_event(
        db, settings, "deploy.instance.started", **started(instance, owner, plan, begin)
    )
    if end:
        await deploy_event(
            db, settings, "deploy.instance.stopped", **stopped(instance, owner, plan, end)
        )
    return instance


async def charge(db, hour: datetime, full: bool = False):
    async with db() as session, session.begin():
        return await metering.charge_hour(session, hour, triggered_by="test", full=full)


async def charges_of(db, owner) -> list[tuple]:
    return await sql(
        db,
        "SELECT c.hour, c.minutes, c.unit_price, c.amount FROM billing.usage_charges c "
        "JOIN billing.accounts a ON a.id = c.account_id WHERE a.owner_id = :o ORDER BY c.hour",
        o=owner,
    )


async def test_out_of_order_events_give_the_right_prorated_charges_once(
    billing_db, billing_settings
):
    hour = a_past_hour()
    # 600/h until hour+2, then 1200/h: a change applies from its full hour on
    plan = await make_plan(
        billing_db, [(hour - timedelta(days=1), 600), (hour + timedelta(hours=2), 1200)]
    )
    owner, instance = uuid.uuid4(), uuid.uuid4()
    begin, end = hour + timedelta(minutes=20), hour + timedelta(hours=2, minutes=39, seconds=1)
    # the stop arrives before the start, and the start twice
    await deploy_event(
        billing_db,
        billing_settings,
        "deploy.instance.stopped",
        **stopped(instance, owner, plan, end),
    )
    assert (await charge(billing_db, hour)).charges == 0  # no start known yet: nothing to charge
    for _ in range(2):
        await deploy_event(
            billing_db,
            billing_settings,
            "deploy.instance.started",
            **started(instance, owner, plan, begin),
        )
    for n in range(4):
        await charge(billing_db, hour + timedelta(hours=n))
    rows = await charges_of(billing_db, owner)
    assert [(r.minutes, r.unit_price, r.amount) for r in rows] == [
        (40, 600, 400),
        (60, 600, 600),
        (40, 1200, 800),  # 39 min 1 s is 40 started minutes
    ]
    account = await wallet(billing_db, owner)
    assert account.balance == -1800
    # every hour again, fully rescanned: nothing more
    for n in range(4):
        run = await charge(billing_db, hour + timedelta(hours=n), full=True)
        assert run.charges == 0
    assert len(await charges_of(billing_db, owner)) == 3
    assert (await wallet(billing_db, owner)).balance == -1800


async def test_rounding_is_half_up_per_started_minute(billing_db, billing_settings):
    hour = a_past_hour()
    plan = await make_plan(billing_db, [(hour - timedelta(hours=5), 7)])
    cases = {  # seconds running in the hour -> (minutes, amount)
        30: (1, 0),  # 7 * 1 / 60 = 0.12 -> 0: nothing to post
        300: (5, 1),  # 0.58 -> 1
        3600: (60, 7),
    }
    owners = {}
    for seconds in cases:
        owner, instance = uuid.uuid4(), uuid.uuid4()
        owners[seconds] = owner
        await deploy_event(
            billing_db,
            billing_settings,
            "deploy.instance.started",
            **started(instance, owner, plan, hour),
        )
        await deploy_event(
            billing_db,
            billing_settings,
            "deploy.instance.deleted",
            **stopped(instance, owner, plan, hour + timedelta(seconds=seconds)),
        )
    await charge(billing_db, hour)
    for seconds, (minutes, amount) in cases.items():
        [row] = await charges_of(billing_db, owners[seconds])
        assert (row.minutes, row.amount) == (minutes, amount)
        assert (await wallet(billing_db, owners[seconds])).balance == -amount


async def test_a_late_event_is_charged_by_the_next_pass_and_nothing_twice(
    billing_db, billing_settings
):
    hour = a_past_hour()
    plan = await make_plan(billing_db, [(hour - timedelta(hours=1), 120)])
    owner = uuid.uuid4()
    first, late = uuid.uuid4(), uuid.uuid4()
    await deploy_event(
        billing_db, billing_settings, "deploy.instance.started", **started(first, owner, plan, hour)
    )
    await deploy_event(
        billing_db,
        billing_settings,
        "deploy.instance.stopped",
        **stopped(first, owner, plan, hour + timedelta(minutes=30)),
    )
    assert (await charge(billing_db, hour)).charges == 1
    # the second instance's events arrive after the hour was charged
    await deploy_event(
        billing_db,
        billing_settings,
        "deploy.instance.started",
        **started(late, owner, plan, hour + timedelta(minutes=30)),
    )
    await deploy_event(
        billing_db,
        billing_settings,
        "deploy.instance.stopped",
        **stopped(late, owner, plan, hour + timedelta(minutes=45)),
    )
    run = await charge(billing_db, hour)
    assert (run.charges, run.amount) == (1, 30)
    # both charges fall in the same hour, so their order is not defined: compare as a set
    assert sorted(r.amount for r in await charges_of(billing_db, owner)) == [30, 60]
    assert (await wallet(billing_db, owner)).balance == -90
    ledger = await sql(
        billing_db,
        "SELECT e.memo, e.amount FROM billing.ledger_entries e JOIN billing.accounts a "
        "ON a.id = e.account_id WHERE a.owner_id = :o ORDER BY e.amount",
        o=owner,
    )
    assert ledger == [(f"shop · {plan} · 30 min", -60), (f"shop · {plan} · 15 min", -30)]


async def test_unusable_events_are_dropped(billing_db, billing_settings):
    async with billing_db() as session, session.begin():
        assert not await metering.record_instance_event(
            session, billing_settings, "deploy.instance.started", {"instance_id": "nope"}
        )


async def test_admin_runs_metering_for_closed_hours_only(billing_http, admin_headers, person):
    now_hour = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    url = f"{API}/admin/metering/runs"
    r = await billing_http.post(
        url,
        json={"hour": (now_hour - timedelta(hours=3)).isoformat(), "hours": 2},
        headers=admin_headers,
    )
    assert r.status_code == 202 and len(r.json()["task_ids"]) == 2
    for body in (
        {"hour": now_hour.isoformat()},  # not over yet
        {"hour": (now_hour - timedelta(minutes=30)).isoformat()},
        {"hour": "2024-01-01T10:00:00"},  # no time zone
        {"hour": (now_hour - timedelta(hours=2)).isoformat(), "hours": 3},
        {"hour": "yesterday"},
    ):
        r = await billing_http.post(url, json=body, headers=admin_headers)
        assert r.status_code == 422, body
    r = await billing_http.post(
        url, json={"hour": "2024-01-01T10:00:00Z"}, headers=person().headers
    )
    assert r.status_code == 403


async def test_price_changes_apply_from_the_next_full_hour(billing_http, admin_headers, person):
    base = f"{API}/admin/plans"
    key = f"p-{uuid.uuid4().hex[:10]}"
    r = await billing_http.post(
        base, json={"key": key, "name": "Pro", "amount_per_hour": 10}, headers=admin_headers
    )
    assert r.status_code == 201 and r.json()["amount_per_hour"] == 10
    r = await billing_http.post(
        f"{base}/{key}/prices", json={"amount_per_hour": 25}, headers=admin_headers
    )
    assert r.status_code == 201
    next_hour = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
    assert datetime.fromisoformat(r.json()["valid_from"]) == next_hour
    plans = (await billing_http.get(f"{API}/plans", headers=person().headers)).json()
    [mine] = [p for p in plans if p["key"] == key]
    assert mine["amount_per_hour"] == 10 and mine["next_price"]["amount_per_hour"] == 25
    for body in (
        {"amount_per_hour": 30, "valid_from": (next_hour - timedelta(hours=1)).isoformat()},
        {"amount_per_hour": 30, "valid_from": (next_hour + timedelta(minutes=5)).isoformat()},
        {"amount_per_hour": -1},
        {"amount_per_hour": 1.5},
        {"amount_per_hour": 30, "currency": "USD"},
        {"amount_per_hour": 10**9},
    ):
        r = await billing_http.post(f"{base}/{key}/prices", json=body, headers=admin_headers)
        assert r.status_code == 422, (body, r.text)
    history = (await billing_http.get(f"{base}/{key}/prices", headers=admin_headers)).json()
    assert [p["amount_per_hour"] for p in history] == [25, 10]
    assert (
        await billing_http.post(
            f"{base}/nope-nope/prices", json={"amount_per_hour": 1}, headers=admin_headers
        )
    ).status_code == 404
    assert (
        await billing_http.post(
            base, json={"key": key, "name": "x", "amount_per_hour": 1}, headers=admin_headers
        )
    ).status_code == 409
    assert (await billing_http.get(base, headers=person().headers)).status_code == 403


def test_beat_charges_every_closed_hour_of_the_look_back_window():
    now = datetime(2025, 3, 1, 0, 7, tzinfo=UTC)
    hours = metering.due_hours(now, 3)
    assert hours == [
        datetime(2025, 2, 28, 21, tzinfo=UTC),
        datetime(2025, 2, 28, 22, tzinfo=UTC),
        datetime(2025, 2, 28, 23, tzinfo=UTC),
    ]


async def entries_and_their_charges(db, owner) -> list[tuple]:
    """Each usage entry of the owner's wallet: (memo, amount, -(sum of the charges it posted)),
    its charges being the wallet's charges that carry the entry's journal transaction."""
    return await sql(
        db,
        "SELECT e.memo, e.amount, -(SELECT sum(c.amount) FROM billing.usage_charges c"
        "  WHERE c.transaction_id = e.transaction_id AND c.account_id = e.account_id)"
        " FROM billing.ledger_entries e JOIN billing.accounts a ON a.id = e.account_id"
        " WHERE a.owner_id = :o AND e.kind = 'usage' ORDER BY e.id",
        o=owner,
    )


async def test_a_wallet_gets_one_entry_per_pass_over_an_hour_the_sum_of_its_instances(
    billing_db, billing_settings
):
    hour = a_past_hour()
    plan = await make_plan(billing_db, [(hour - timedelta(hours=1), 120)])
    many, one = uuid.uuid4(), uuid.uuid4()
    until = hour + timedelta(hours=3)  # every instance stops: later hours of other tests
    spans = [  # (owner, start, stop): 60, 30 and 20 minutes for one wallet, 60 for the other
        (many, hour - timedelta(hours=1), until),
        (many, hour, hour + timedelta(minutes=30)),
        (many, hour + timedelta(minutes=40), until),
        (one, hour - timedelta(minutes=5), until),
    ]
    for owner, begin, end in spans:
        await run_instance(billing_db, billing_settings, owner, plan, begin, end)
    run = await charge(billing_db, hour)
    assert (run.charges, run.amount) == (4, 120 + 60 + 40 + 120)
    assert await entries_and_their_charges(billing_db, many) == [
        ("3 instances · 110 min", -220, -220)
    ]
    assert await entries_and_their_charges(billing_db, one) == [
        (f"shop · {plan} · 60 min", -120, -120)
    ]
    assert sorted(c.amount for c in await charges_of(billing_db, many)) == [40, 60, 120]

    again = await charge(billing_db, hour, full=True)
    assert (again.charges, again.amount) == (0, 0)
    assert len(await entries_and_their_charges(billing_db, many)) == 1

    # an instance of the hour learnt late: the next pass posts its own entry for it alone
    await run_instance(
        billing_db, billing_settings, many, plan, hour + timedelta(minutes=45), until
    )
    assert (await charge(billing_db, hour)).amount == 30
    assert await entries_and_their_charges(billing_db, many) == [
        ("3 instances · 110 min", -220, -220),
        (f"shop · {plan} · 15 min", -30, -30),
    ]
    assert (await wallet(billing_db, many)).balance == -250
    assert (await wallet(billing_db, one)).balance == -120


async def test_a_run_over_an_hour_another_run_holds_waits_and_charges_nothing_twice(
    billing_db, billing_settings
):
    # the second run waits for the first's hour lock, then its anti-join sees the first's
    # charges (without the lock it would wait on the (hour, instance_id) key, then fail)
    hour = a_past_hour()
    plan = await make_plan(billing_db, [(hour - timedelta(hours=1), 60)])
    owner = uuid.uuid4()
    await run_instance(billing_db, billing_settings, owner, plan, hour - timedelta(hours=2))
    async with billing_db() as session, session.begin():  # before: the runs wait on no other row
        await AccountDAO(session).system_account(AccountKind.REVENUE, "EUR")
    async with billing_db() as session, session.begin():
        first = await metering.charge_hour(session, hour, triggered_by="test", full=True)
        second = asyncio.create_task(charge(billing_db, hour, full=True))
        while not await sql(
            billing_db,
            "SELECT 1 FROM pg_stat_activity WHERE datname = current_database()"
            " AND wait_event_type = 'Lock'",
        ):
            assert not second.done(), second.exception()
            await asyncio.sleep(0.05)
    assert first.charges >= 1
    assert (await second).finished_at is not None
    assert [(r.minutes, r.amount) for r in await charges_of(billing_db, owner)] == [(60, 60)]
    assert (await wallet(billing_db, owner)).balance == -60
