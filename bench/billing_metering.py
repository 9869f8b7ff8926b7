"""Hourly metering runs over many running instances, seeded set-based, measured twice in
one run, each on a fresh database and through the service's own charge_hour: with the
schema and statement of e5f2a8c4d1b7 (charges keyed (hour, instance_id) beside an
(account_id, hour) index, one statement, _billing_metering_previous.py) and with today's
(one (hour, account_id, instance_id) key written in its order, `--shards` shards of the
wallets charged at once, each in its own transaction, no lookup of earlier charges in an
hour's first run). The seeded tables are vacuumed and checkpointed first, as an hourly run
finds them in service. For each: the first run over an hour, a rerun of it (every charge
already there, a no-op) and the next hour's run (the steady state: an hour already on
record); wall time (commit included) and statement time, the CPU time of the database's
PostgreSQL backends (steadier than wall time on a loaded machine), the process's peak
memory; whether every cached balance still equals the sum of its entries and whether the
wallets' usage entries add up to the hour's charges.
Prints figures; it never passes or fails on a timing.

    uv run python bench/billing_metering.py [--instances 100000] [--wallets 10000]
        [--no-previous] [--shards 2] [--no-settle]

Needs the machine's PostgreSQL (like the tests); makes and drops databases of its own.
"""

import argparse
import asyncio
import os
import sys
import time
import tracemalloc
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace

import psutil

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "bench"))

import _billing_metering_previous as previous  # noqa: E402
from alembic import command  # noqa: E402
from alembic.config import Config  # noqa: E402
from billing_seed import seed_intervals, seed_wallets  # noqa: E402
from sqlalchemy import text  # noqa: E402
from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine  # noqa: E402

from berth_testing.bench import print_beside  # noqa: E402
from berth_testing.plugin import create_migrated_database, drop_database  # noqa: E402

HOUR = datetime(2024, 3, 5, 14, tzinfo=UTC)
PRICE = text(
    "INSERT INTO billing.plan_prices (plan_key, amount_per_hour, currency, valid_from,"
    " created_by) VALUES ('web-small', 2, :c, '2020-01-01T00:00Z', 'bench')"
)
REVENUE = text(
    "INSERT INTO billing.accounts (kind, owner_id, currency) VALUES ('revenue', NULL, :c)"
    " ON CONFLICT DO NOTHING"
)
CHECKS = """
SELECT (SELECT count(*) FROM billing.usage_charges WHERE hour = :h),
       (SELECT COALESCE(sum(amount), 0) FROM billing.usage_charges WHERE hour = :h),
       (SELECT count(*) FROM billing.accounts a WHERE a.balance <>
           (SELECT COALESCE(sum(amount), 0) FROM billing.ledger_entries e
            WHERE e.account_id = a.id)),
       (SELECT count(*) FROM billing.ledger_entries WHERE kind = 'usage'),
       (SELECT -COALESCE(sum(e.amount), 0) FROM billing.ledger_entries e
        JOIN billing.accounts a ON a.id = e.account_id
        WHERE e.kind = 'usage' AND a.kind = 'wallet' AND e.occurred_at = :h)
"""


# pg_stat_activity is read once per transaction unless its snapshot is cleared
CLEAR_STATS_SNAPSHOT = text("SELECT pg_stat_clear_snapshot()")
BACKENDS = text(
    "SELECT pid FROM pg_stat_activity WHERE datname = current_database()"
    " AND backend_type = 'client backend'"
)


def bench_db(database_url: str, metadata=None) -> SimpleNamespace:
    """An engine and sessionmaker like berth_common.db.Database's, without its 30 s statement
    timeout (a 1M-instance hour on a loaded machine runs longer)."""
    engine = create_async_engine(database_url, pool_size=20, max_overflow=0)  # kept open
    sessionmaker = async_sessionmaker(
        engine, expire_on_commit=False, info={"schema": "billing", "metadata": metadata}
    )
    return SimpleNamespace(engine=engine, sessionmaker=sessionmaker, dispose=engine.dispose)


async def seed(db, instances: int, wallets: int, currency: str, settle: bool = True) -> float:
    t0 = time.perf_counter()
    async with db.engine.begin() as conn:
        wallet_ids = await seed_wallets(conn, wallets, currency, credit=10**9)
        await seed_intervals(
            conn, instances, wallet_ids, "web-small", HOUR - timedelta(days=1), None
        )
        await conn.execute(PRICE, {"c": currency})
        await conn.execute(REVENUE, {"c": currency})
    # as an hourly run finds them: vacuumed (autovacuum does it in service) and not in the middle
    # of writing out the bulk load's dirty pages (a checkpoint the seed set off); --no-settle
    # measures right after the load, as this bench did before
    async with db.engine.connect() as conn:
        conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
        await conn.execute(text("VACUUM ANALYZE" if settle else "ANALYZE"))
        if settle:
            await conn.execute(text("CHECKPOINT"))
    return time.perf_counter() - t0


def backend_cpu(pid: int) -> float:
    """CPU seconds the PostgreSQL backend `pid` has used (it runs on this machine): on a
    loaded machine a steadier figure than wall time, which counts waiting for a core."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return float("nan")
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class Meter:
    """Wall time, statement times, the backend's CPU time and memory of one run."""

    def __init__(self) -> None:
        self.proc = psutil.Process()
        self.timings: dict[str, float] = {}
        self.figures: dict[str, float] = {}

    async def run(self, label: str, work) -> None:
        self.timings.clear()
        rss_before = self.proc.memory_info().rss
        tracemalloc.start()
        start = time.perf_counter()
        charges = await work()
        elapsed = time.perf_counter() - start
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        rss_after = self.proc.memory_info().rss
        steps = "  ".join(f"{k} {v:6.2f} s" for k, v in self.timings.items())
        print(
            f"  {label:<24} {elapsed:7.2f} s  charges {charges:>9,}  {steps}  "
            f"python peak {peak / 2**20:5.2f} MiB  rss {rss_after / 2**20:6.1f} MiB "
            f"(+{(rss_after - rss_before) / 2**20:.1f})"
        )
        self.figures[f"{label}: wall s"] = elapsed
        self.figures.update({f"{label}: {k} s": v for k, v in self.timings.items()})
        self.figures[f"{label}: python peak MiB"] = peak / 2**20

    async def backend(self, conn, work):
        """`work`'s result, the CPU time the database's backends spent on it counted (the
        session's and the shards' own, which the pool keeps open)."""
        before = {pid: backend_cpu(pid) for pid in await self.backends(conn)}
        try:
            return await work
        finally:
            self.timings["backend cpu"] = sum(
                backend_cpu(pid) - before.get(pid, 0.0) for pid in await self.backends(conn)
            )

    @staticmethod
    async def backends(conn) -> list[int]:
        await conn.execute(CLEAR_STATS_SNAPSHOT)
        found = await conn.execute(BACKENDS)
        return list(found.scalars())

    async def timed(self, name: str, awaitable):
        start = time.perf_counter()
        try:
            return await awaitable
        finally:
            self.timings[name] = self.timings.get(name, 0) + time.perf_counter() - start


async def checks(db) -> str:
    async with db.engine.connect() as conn:
        row = (await conn.execute(text(CHECKS), {"h": HOUR})).one()
    charges, total, stale, entries, debited = row
    return (
        f"  charged {charges:,} instance-hours once ({int(total):,} minor units), "
        f"{entries:,} usage entries debiting wallets {int(debited):,}; accounts whose cached "
        f"balance differs from the sum of entries: {stale}"
    )


async def measure(
    database_url: str, instances: int, wallets: int, statements, shards: int, settle: bool
) -> dict[str, float]:
    """Seed, then charge the hour twice through the service's charge_hour, its DAO's statements
    replaced by `statements` (today's or the previous ones)."""
    from berth_billing.config import BillingSettings
    from berth_billing.metering import dao as metering_dao
    from berth_billing.metering import service as metering
    from berth_billing.models import Base

    settings = BillingSettings(database_url=database_url)
    db = bench_db(database_url, Base.metadata)
    seeded = await seed(db, instances, wallets, settings.currency, settle)
    print(f"  (seeded in {seeded:.1f} s)")
    meter = Meter()
    real_charge = metering_dao.MeteringDAO.charge
    real_statements = {name: getattr(metering_dao, name) for name in statements}

    async def timed_charge(self, *a, **kw):
        return await meter.timed(
            "charge+post statements (summed over shards)", real_charge(self, *a, **kw)
        )

    async def one_run(hour: datetime = HOUR) -> int:
        async with db.sessionmaker() as session:
            async with session.begin():  # edge: the run's one transaction, as the task has it
                run = await meter.backend(
                    session,
                    metering.charge_hour(
                        session, hour, triggered_by="bench", full=True, shards=shards
                    ),
                )
            return run.charges

    metering_dao.MeteringDAO.charge = timed_charge
    for name, statement in statements.items():
        setattr(metering_dao, name, statement)
    try:
        await meter.run("first run (charges all)", one_run)
        await meter.run("rerun (no-op)", one_run)
        # the steady state: an hour charged after another one is on record
        await meter.run("next hour (charges all)", lambda: one_run(HOUR + timedelta(hours=1)))
    finally:
        metering_dao.MeteringDAO.charge = real_charge
        for name, statement in real_statements.items():
            setattr(metering_dao, name, statement)
    print(await checks(db))
    await db.dispose()
    return meter.figures


def downgrade_billing(database_url: str, revision: str) -> None:
    service = ROOT / "services" / "billing"
    cfg = Config(str(service / "alembic.ini"))
    cfg.set_main_option("script_location", str(service / "alembic"))
    cfg.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    command.downgrade(cfg, revision)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--instances", type=int, default=100_000)
    parser.add_argument("--wallets", type=int, default=10_000)
    parser.add_argument("--no-previous", action="store_true", help="only today's statement")
    parser.add_argument(
        "--shards", type=int, default=2, help="wallet shards charged at once (the setting)"
    )
    parser.add_argument(
        "--no-settle",
        dest="settle",
        action="store_false",
        help="measure right after the bulk load (no VACUUM, no CHECKPOINT first)",
    )
    args = parser.parse_args()
    os.environ.setdefault("BILLING_WEBHOOK_SECRET", "bench")
    from berth_billing.metering import dao

    print(
        f"{args.instances:,} running instances over {args.wallets:,} wallets; load average "
        f"{os.getloadavg()[0]:.2f} (1 min) on {os.cpu_count()} cores"
    )
    names = [
        "CHARGE_HOUR",
        "FIRST_CHARGE_HOUR",
        "CHARGED_IN_RANGE",
        "CHARGE_WORK_MEM",
        "CHARGE_BY_KEY",
    ]
    variants = [
        (
            f"today's: hour-first key, {args.shards} shard(s) at once",
            {name: getattr(dao, name) for name in names},
            None,
            args.shards,
        )
    ]
    if not args.no_previous:
        variants.insert(
            0,
            (
                "before (main): (hour, instance) key + account index, one statement",
                {name: getattr(previous, name) for name in names},
                previous.REVISION,
                previous.SHARDS,
            ),
        )
    figures = []
    for label, statements, revision, shards in variants:
        print(label)
        database_url = create_migrated_database(ROOT, prefix="berth_bench")
        try:
            if revision:
                downgrade_billing(database_url, revision)
            figures.append(
                asyncio.run(
                    measure(
                        database_url, args.instances, args.wallets, statements, shards, args.settle
                    )
                )
            )
        finally:
            drop_database(database_url)
    print_beside(
        f"charge_hour, today's beside the previous one (one statement, two indexes); "
        f"load average after: {os.getloadavg()[0]:.2f} (1 min)",
        figures[-1],
        figures[0] if len(figures) > 1 else {},
    )


if __name__ == "__main__":
    main()
