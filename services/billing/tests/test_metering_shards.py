"""An hour charged in shards of the wallets at once: each wallet in exactly one shard, each
shard its own balanced journal transaction crediting its own revenue account, nothing charged
twice when the run dies after some shards committed; and an instance's wallet stays fixed,
which keeps the charges' (hour, account_id, instance_id) key one charge per instance-hour."""

import itertools
import uuid
from datetime import timedelta

import pytest
from fixtures_billing import a_past_hour, sql, wallet
from sqlalchemy.exc import DBAPIError
from test_metering import charges_of, make_plan, run_instance

from berth_billing.metering import service as metering

SHARDS = 3


def shard_of(account_id: uuid.UUID) -> int:
    ranges = metering.wallet_ranges(SHARDS)
    [n] = [
        n
        for n, (low, high) in enumerate(ranges)
        if low <= account_id and (high is None or account_id < high)
    ]
    return n


def test_the_wallet_ranges_cover_every_id_once_in_equal_widths():
    ranges = metering.wallet_ranges(4)
    assert ranges[0][0] == uuid.UUID(int=0) and ranges[-1][1] is None
    assert all(a[1] == b[0] for a, b in itertools.pairwise(ranges))
    assert [low.int for low, _ in ranges] == [n << 126 for n in range(4)]
    assert metering.wallet_ranges(1) == [(uuid.UUID(int=0), None)]


async def usage_entries(db, hour, owner) -> list[tuple]:
    """(journal key, entry amount, revenue shard of the transaction) of the owner's usage."""
    return await sql(
        db,
        "SELECT t.key, e.amount, r.shard FROM billing.ledger_entries e "
        "JOIN billing.accounts a ON a.id = e.account_id "
        "JOIN billing.ledger_transactions t ON t.id = e.transaction_id "
        "JOIN billing.ledger_entries re ON re.transaction_id = t.id "
        "JOIN billing.accounts r ON r.id = re.account_id AND r.kind = 'revenue' "
        "WHERE a.owner_id = :o AND t.key LIKE :k",
        o=owner,
        k=f"usage:{hour:%Y-%m-%dT%H}:%",
    )


async def hour_with_instances(db, settings, owners: int):
    hour = a_past_hour()
    plan = await make_plan(db, [(hour - timedelta(days=1), 120)])
    people = [uuid.uuid4() for _ in range(owners)]
    for owner in people:  # two instances each, the whole hour, stopped later
        for _ in range(2):
            await run_instance(
                db, settings, owner, plan, hour - timedelta(hours=1), hour + timedelta(hours=2)
            )
    return hour, people


async def test_each_wallet_is_charged_in_its_own_shard_once(billing_db, billing_settings):
    hour, owners = await hour_with_instances(billing_db, billing_settings, owners=9)
    async with billing_db() as session, session.begin():
        run = await metering.charge_hour(
            session, hour, triggered_by="test", full=True, shards=SHARDS
        )
    assert run.finished_at is not None and run.charges >= 18
    for owner in owners:
        account = (await wallet(billing_db, owner)).id
        n = shard_of(account)
        [(key, amount, revenue_shard)] = await usage_entries(billing_db, hour, owner)
        assert (key, amount, revenue_shard) == (f"usage:{hour:%Y-%m-%dT%H}:{run.id}:{n}", -240, n)
        assert [c[3] for c in await charges_of(billing_db, owner)] == [120, 120]
        assert (await wallet(billing_db, owner)).balance == -240

    async with billing_db() as session, session.begin():
        again = await metering.charge_hour(
            session, hour, triggered_by="test", full=True, shards=SHARDS
        )
    assert (again.charges, again.amount) == (0, 0)
    for owner in owners:
        assert len(await usage_entries(billing_db, hour, owner)) == 1


async def test_a_run_dead_after_its_shards_committed_charges_nothing_twice(
    billing_db, billing_settings
):
    hour, owners = await hour_with_instances(billing_db, billing_settings, owners=4)

    class Killed(Exception):
        pass

    with pytest.raises(Killed):
        async with billing_db() as session, session.begin():
            await metering.charge_hour(session, hour, triggered_by="test", shards=SHARDS)
            raise Killed  # the shards committed; the run's own record did not
    [(finished,)] = await sql(
        billing_db,
        "SELECT count(*) FROM billing.metering_runs WHERE hour = :h AND finished_at IS NOT NULL",
        h=hour,
    )
    assert finished == 0  # so the next pass looks at every interval of the hour

    async with billing_db() as session, session.begin():
        rerun = await metering.charge_hour(session, hour, triggered_by="test", shards=SHARDS)
    assert rerun.finished_at is not None
    for owner in owners:
        assert len(await usage_entries(billing_db, hour, owner)) == 1
        assert [c[3] for c in await charges_of(billing_db, owner)] == [120, 120]
        assert (await wallet(billing_db, owner)).balance == -240


async def test_an_instance_keeps_the_wallet_it_was_recorded_with(billing_db, billing_settings):
    _, [owner] = await hour_with_instances(billing_db, billing_settings, owners=1)
    with pytest.raises(DBAPIError, match="is fixed once recorded"):
        await sql(
            billing_db,
            "UPDATE billing.usage_intervals SET account_id = ("
            " SELECT id FROM billing.accounts WHERE kind = 'revenue' LIMIT 1)"
            " WHERE owner_id = :o",
            o=owner,
        )
