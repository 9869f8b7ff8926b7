"""Chat's retention per tier over a large history: 200k messages of 2,000 customers spread
over the last 800 days, customers on standard (never announced, or announced), pro and
business, purged by the worker's code (berth_chat.retention) in a fresh database. Prints how
long the purge took, how many it deleted (checked against a count made beforehand), the plan
of one batch, and the cost of the next, idle hourly run. Never passes or fails.

    uv run python bench/chat_retention.py [--messages 200000] [--customers 2000]
        [--previous REF|none]

The purge's figures (seconds, messages/s, this process's CPU seconds, the idle run) are
printed beside the previous code's, run again in a subprocess on its own fresh database
(default: the parent of the newest commit that changed services/chat or libs/common).

Needs the machine's PostgreSQL (like the tests).
"""

import argparse
import asyncio
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.dialects import postgresql
from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from berth_chat.config import ChatSettings  # noqa: E402
from berth_chat.retention import service as retention  # noqa: E402
from berth_chat.retention.dao import RetentionDAO  # noqa: E402
from berth_testing.bench import beside_previous, previous_arguments  # noqa: E402
from berth_testing.plugin import create_platform_database, drop_database  # noqa: E402

DAYS = {"standard": 90, "pro": 365, "business": 730}
FALLBACK = 365
MEASURED = ["libs/common", "services/chat"]

# customer n: n % 4 == 0 never announced (standard), 1 announced standard, 2 pro, 3 business;
# each has two conversations; message m is (m * 7919 % 800) days and some minutes old
SEED = """
INSERT INTO chat.account_tiers (owner_id, tier, changed_at)
SELECT md5('c' || n)::uuid, (ARRAY['standard', 'pro', 'business'])[n % 4], now()
FROM generate_series(1, {customers}) n WHERE n % 4 <> 0;
INSERT INTO chat.conversations (customer_id, kind, state, last_seq)
SELECT md5('c' || n)::uuid, 'support', 'bot', 0
FROM generate_series(1, {customers}) n, generate_series(1, 2) k;
CREATE TEMP TABLE ids AS SELECT id, row_number() OVER (ORDER BY customer_id, id) AS n
FROM chat.conversations;
CREATE INDEX ON ids (n);
INSERT INTO chat.messages (conversation_id, seq, sender_kind, body, created_at)
SELECT ids.id, m, 'customer', 'message ' || m,
       now() - ((m * 7919) % 800) * interval '1 day' - (m % 1440) * interval '1 minute'
FROM generate_series(1, {messages}) m
JOIN ids ON ids.n = 1 + (m % {conversations});
UPDATE chat.conversations c SET last_seq = s.top
FROM (SELECT conversation_id, max(seq) AS top FROM chat.messages GROUP BY 1) s
WHERE s.conversation_id = c.id;
ANALYZE chat.account_tiers; ANALYZE chat.conversations; ANALYZE chat.messages;
"""

DUE = """
SELECT count(*) FROM chat.messages m
JOIN chat.conversations c ON c.id = m.conversation_id
LEFT JOIN chat.account_tiers t ON t.owner_id = c.customer_id
WHERE m.created_at < now() - make_interval(days => CASE coalesce(t.tier, 'standard')
    WHEN 'standard' THEN 90 WHEN 'pro' THEN 365 WHEN 'business' THEN 730 ELSE 365 END)
"""


async def run(args: argparse.Namespace, url: str) -> dict[str, float]:
    engine = create_async_engine(url, pool_size=2)
    sessionmaker = async_sessionmaker(engine, expire_on_commit=False)
    async with engine.begin() as conn:
        t0 = time.perf_counter()
        for statement in SEED.format(
            customers=args.customers,
            conversations=args.customers * 2,
            messages=args.messages,
        ).split(";"):
            if statement.strip():
                await conn.execute(text(statement))
        seeded = time.perf_counter() - t0
        due = (await conn.execute(text(DUE))).scalar_one()
        total = (await conn.execute(text("SELECT count(*) FROM chat.messages"))).scalar_one()
    print(f"seeded {total:,} messages of {args.customers:,} customers in {seeded:.1f} s")
    print(f"due for deletion (counted beforehand): {due:,}")

    settings = ChatSettings.model_construct(retention_days_by_tier=DAYS, retention_days=FALLBACK)

    async def in_transaction(fn, **kwargs):
        async with sessionmaker() as session, session.begin():
            return await fn(session, **kwargs)

    # the plan of the first batch of the standard tier (the biggest)
    now = datetime.now(UTC)
    async with sessionmaker() as session:
        dao = RetentionDAO(session)
        captured = {}

        async def capture(stmt, *a, **k):
            captured["sql"] = str(
                stmt.compile(dialect=postgresql.dialect(), compile_kwargs={"literal_binds": True})
            )
            raise RuntimeError("captured")

        session.execute = capture  # type: ignore[method-assign]
        try:
            await dao.purge(now - timedelta(days=90), tiers=("standard",))
        except RuntimeError:
            pass
    async with engine.begin() as conn:
        plan = await conn.execute(text(f"EXPLAIN (ANALYZE, BUFFERS) {captured['sql']}"))
        lines = [row[0] for row in plan]
        await conn.rollback()
    if not args.emit_json:
        print("plan of one batch (standard, 90 days; rolled back):")
        for line in lines:
            print("   ", line)

    t0, cpu = time.perf_counter(), time.process_time()
    deleted = await retention.purge(in_transaction, settings, datetime.now(UTC))
    took, cpu = time.perf_counter() - t0, time.process_time() - cpu
    t0 = time.perf_counter()
    again = await retention.purge(in_transaction, settings, datetime.now(UTC))
    idle = time.perf_counter() - t0
    async with engine.begin() as conn:
        left = (await conn.execute(text("SELECT count(*) FROM chat.messages"))).scalar_one()
        still_due = (await conn.execute(text(DUE))).scalar_one()
    print(f"left: {left:,} messages; still due: {still_due}; deleted == due: {deleted == due}")
    await engine.dispose()
    return {
        "purge: deleted": deleted,
        "purge: seconds": took,
        "purge: messages/s": deleted / took,
        "purge: this process's CPU s": cpu,
        "next hourly run: deleted": again,
        "next hourly run: seconds": idle,
        "left due after the purge": still_due,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--messages", type=int, default=200_000)
    parser.add_argument("--customers", type=int, default=2_000)
    previous_arguments(parser)
    args = parser.parse_args()
    beside_previous(
        ROOT,
        MEASURED,
        args,
        measure_once,
        f"chat retention purge, {args.messages:,} messages of {args.customers:,} customers",
    )


def measure_once(args: argparse.Namespace) -> dict[str, float]:
    database = create_platform_database(ROOT, prefix="berth_bench")
    try:
        return asyncio.run(run(args, database.url))
    finally:
        drop_database(database.url)


if __name__ == "__main__":
    main()
