"""One hourly metering run over many running instances, seeded set-based: wall time of the
run and of its two statements, the process's peak memory, and a rerun of the same hour
(every charge already there) as the baseline measured in the same run. Prints figures; it
never passes or fails on a timing.

    uv run python bench/billing_metering.py [--instances 100000] [--wallets 20000]

Needs the machine's PostgreSQL (like the tests); makes and drops a database of its own.
"""

import argparse
import asyncio
import os
import sys
import time
import tracemalloc
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from billing_seed import seed_intervals, seed_wallets  # noqa: E402
from sqlalchemy import text  # noqa: E402

from berth_testing.plugin import create_migrated_database, drop_database  # noqa: E402

HOUR = datetime(2024, 3, 5, 14, tzinfo=UTC)


async def measure(database_url: str, instances: int, wallets: int) -> None:
    os.environ.setdefault("BILLING_WEBHOOK_SECRET", "bench")
    from berth_billing.config import BillingSettings
    from berth_billing.metering import service as metering
    from berth_billing.metering.dao import MeteringDAO
    from berth_billing.models import SCHEMA, Base
    from berth_billing.plans.service import ensure_seed
    from berth_common.db import Database

    settings = BillingSettings(database_url=database_url)
    db = Database(database_url, SCHEMA, metadata=Base.metadata, pool_size=2)
    t0 = time.perf_counter()
    async with db.engine.begin() as conn:
        wallet_ids = await seed_wallets(conn, wallets, settings.currency, credit=10**9)
        await seed_intervals(
            conn, instances, wallet_ids, "web-small", HOUR - timedelta(days=1), None
        )
    async with db.sessionmaker() as session, session.begin():
        await ensure_seed(session, settings)
    async with db.engine.connect() as conn:
        await conn.execute(text("ANALYZE"))
    print(
        f"seeded {instances:,} running instances over {wallets:,} wallets "
        f"in {time.perf_counter() - t0:.1f} s (set-based SQL)"
    )

    # the statements on their own, timed inside the run's transaction
    timings: dict[str, float] = {}
    real_charge, real_post = MeteringDAO.charge, MeteringDAO.post

    async def timed_charge(self, *a, **kw):
        start = time.perf_counter()
        try:
            return await real_charge(self, *a, **kw)
        finally:
            timings["charge"] = time.perf_counter() - start

    async def timed_post(self, *a, **kw):
        start = time.perf_counter()
        try:
            return await real_post(self, *a, **kw)
        finally:
            timings["post"] = time.perf_counter() - start

    MeteringDAO.charge, MeteringDAO.post = timed_charge, timed_post
    proc = psutil.Process()

    async def one_run(label: str) -> None:
        timings.clear()
        rss_before = proc.memory_info().rss
        tracemalloc.start()
        start = time.perf_counter()
        async with db.sessionmaker() as session, session.begin():
            run = await metering.charge_hour(session, HOUR, triggered_by="bench", full=True)
        commit_done = time.perf_counter() - start
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        rss_after = proc.memory_info().rss
        print(
            f"{label:<26} {commit_done:7.2f} s  charges {run.charges:>8,}  "
            f"insert-select {timings.get('charge', 0):6.2f} s  "
            f"ledger-post {timings.get('post', 0):6.2f} s  "
            f"python peak {peak / 2**20:6.2f} MiB  rss {rss_after / 2**20:6.1f} MiB "
            f"(+{(rss_after - rss_before) / 2**20:.1f})"
        )

    await one_run("first run (charges all)")
    await one_run("rerun (baseline: no-op)")
    async with db.engine.connect() as conn:
        charges, total = (
            await conn.execute(
                text("SELECT count(*), sum(amount) FROM billing.usage_charges WHERE hour = :h"),
                {"h": HOUR},
            )
        ).one()
        mismatch = (
            await conn.execute(
                text(
                    "SELECT count(*) FROM billing.accounts a WHERE a.balance <> "
                    "(SELECT COALESCE(sum(amount), 0) FROM billing.ledger_entries e "
                    "WHERE e.account_id = a.id)"
                )
            )
        ).scalar_one()
    print(
        f"charged {charges:,} instance-hours once, {int(total):,} minor units; "
        f"accounts whose cached balance differs from the sum of entries: {mismatch}"
    )
    await db.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--instances", type=int, default=100_000)
    parser.add_argument("--wallets", type=int, default=20_000)
    args = parser.parse_args()
    database_url = create_migrated_database(ROOT, prefix="berth_bench")
    try:
        asyncio.run(measure(database_url, args.instances, args.wallets))
    finally:
        drop_database(database_url)


if __name__ == "__main__":
    main()
