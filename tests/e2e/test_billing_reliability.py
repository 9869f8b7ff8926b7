"""A billing worker SIGKILLed in the middle of a metering run: after a restart every
instance-hour is charged exactly once: nothing twice, nothing missing (late acknowledgement
redelivers the task; the half-done transaction died with the worker; (instance, hour) is
unique), and each wallet's ledger entry of a pass is the sum of its charges of that pass."""

import asyncio
import random
import uuid
from datetime import UTC, datetime, timedelta

from billing_e2e import API, sql
from billing_seed import seed_intervals, seed_wallets
from sqlalchemy.ext.asyncio import create_async_engine

from berth_testing.processes import wait_until

INSTANCES = 40_000
WALLETS = 400
HOURS = 4


async def seed(database_url: str, first: datetime) -> list[uuid.UUID]:
    engine = create_async_engine(database_url)
    try:
        async with engine.begin() as conn:
            wallets = await seed_wallets(conn, WALLETS, "EUR", credit=10**9)
            # every instance runs through all the hours, from 30 minutes before the first
            await seed_intervals(
                conn,
                INSTANCES,
                wallets,
                "web-small",
                first - timedelta(minutes=30),
                first + timedelta(hours=HOURS, minutes=10),
            )
        return wallets
    finally:
        await engine.dispose()


def charging_now(database_url: str) -> bool:
    rows = sql(
        database_url,
        "SELECT count(*) FROM pg_stat_activity WHERE state = 'active' "
        "AND query LIKE '%INSERT INTO billing.usage_charges%' AND pid <> pg_backend_pid() "
        "AND datname = current_database()",
    )
    return rows[0][0] > 0


def test_worker_killed_mid_metering_run_then_rerun_charges_everything_exactly_once(
    edge, platform, admin_token, berth_env
):
    db = berth_env["DATABASE_URL"]
    first = datetime(2003, 1, 1, tzinfo=UTC) + timedelta(hours=random.randint(0, 24 * 365 * 10))
    wallets = asyncio.run(seed(db, first))
    [(since,)] = sql(db, "SELECT now()")
    platform.processes.pop("billing-worker").stop()
    try:
        victim = platform.start_worker("billing")
        r = edge.post(
            f"{API}/admin/metering/runs",
            json={"hour": first.isoformat(), "hours": HOURS},
            headers={"Authorization": f"Bearer {admin_token}"},
        )
        assert r.status_code == 202, r.text

        wait_until(lambda: charging_now(db), 60, "a metering statement running", interval=0.02)
        victim.kill()  # SIGKILL to the worker's whole process group, mid-statement
        victim.proc.wait(10)
        platform.processes.pop("billing-worker")
        [(done_at_kill,)] = sql(
            db,
            "SELECT count(*) FROM billing.metering_runs WHERE hour >= :h AND hour < :e "
            "AND finished_at IS NOT NULL AND started_at >= :s",
            h=first,
            e=first + timedelta(hours=HOURS),
            s=since,
        )
        assert done_at_kill < HOURS

        platform.start_worker("billing")

        def all_hours_done() -> bool:
            [(hours,)] = sql(
                db,
                "SELECT count(DISTINCT hour) FROM billing.metering_runs WHERE hour >= :h "
                "AND hour < :e AND finished_at IS NOT NULL AND started_at >= :s",
                h=first,
                e=first + timedelta(hours=HOURS),
                s=since,
            )
            return hours == HOURS

        wait_until(all_hours_done, 240, "every hour charged after the restart", interval=0.5)
        [(charges, amount, pairs)] = sql(
            db,
            "SELECT count(*), sum(amount), count(DISTINCT (instance_id, hour)) "
            "FROM billing.usage_charges WHERE account_id = ANY(:w)",
            w=wallets,
        )
        assert charges == pairs == INSTANCES * HOURS  # nothing missing, nothing twice
        [(price,)] = sql(
            db,
            "SELECT amount_per_hour FROM billing.plan_prices WHERE plan_key = 'web-small' "
            "AND valid_from <= :h ORDER BY valid_from DESC LIMIT 1",
            h=first,
        )
        assert amount == INSTANCES * HOURS * price
        # and the ledger holds each charge once: one entry per wallet and pass over an hour,
        # debiting exactly what that wallet's charges of the pass add up to
        [(entries, debited, mismatched)] = sql(
            db,
            "SELECT count(*), sum(e.amount), count(*) FILTER (WHERE -e.amount <> "
            "  (SELECT sum(c.amount) FROM billing.usage_charges c"
            "   WHERE c.transaction_id = e.transaction_id AND c.account_id = e.account_id)) "
            "FROM billing.ledger_entries e WHERE e.account_id = ANY(:w) AND e.kind = 'usage'",
            w=wallets,
        )
        assert (-debited, mismatched) == (amount, 0)
        assert entries == WALLETS * HOURS  # each hour charged by one pass that committed
        [(balances,)] = sql(
            db, "SELECT sum(balance) FROM billing.accounts WHERE id = ANY(:w)", w=wallets
        )
        assert balances == WALLETS * 10**9 - amount
    finally:
        if "billing-worker" in platform.processes:
            platform.processes.pop("billing-worker").stop()
        platform.start_worker("billing")
