"""Credits and webhook handling of billing, real PostgreSQL and RabbitMQ. Prints figures;
never passes or fails.

1. Credits/s on the ledger path: the code the webhook endpoint runs after HTTP (signature
   check, event claim, payment lock, the balanced posting, dunning), from --processes
   processes, N payments credited once. Three rounds in the same run: "before", billing's
   code at --baseline-rev (one transaction per credit, --tasks sessions a process); "now: a
   transaction each", today's statements the same way; "now: batched", today's web path
   (the WebhookBatcher: --batched-tasks deliveries in flight a process, sharing
   transactions). Each round checks that every payment was credited once and that the
   clearing shards add up.
2. Webhook deliveries/s through the billing web process (uvicorn): each payment's success
   event delivered --duplicates times concurrently (as a provider retrying over a flaky
   network would), verified credited exactly once. Baselines in the same run: GET /health at
   the same concurrency, and the same deliveries to a web process running billing's code at
   --baseline-rev.

    uv run python bench/billing_webhooks.py [--credits 3000] [--processes 2] [--tasks 12]
        [--batched-tasks 64] [--baseline-credits 600] [--baseline-rev REV]
        [--payments 300] [--duplicates 10] [--concurrency 32] [--parts sql,ledger,http]
"""

import argparse
import asyncio
import hashlib
import hmac
import json
import multiprocessing
import os
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from types import SimpleNamespace

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from billing_seed import seed_wallets  # noqa: E402
from sqlalchemy import text  # noqa: E402
from sqlalchemy.ext.asyncio import create_async_engine  # noqa: E402

from berth_testing.platform import uvicorn_argv  # noqa: E402
from berth_testing.plugin import (  # noqa: E402
    create_migrated_database,
    drop_database,
    isolated_vhost,
)
from berth_testing.processes import ManagedProcess, free_port, http_ok  # noqa: E402

BIN = Path(sys.executable).parent
# billing before webhook deliveries were batched (one transaction and ~13 round trips a credit)
BEFORE = "86d5793"


async def seed_payments(database_url: str, n: int) -> list[dict]:
    engine = create_async_engine(database_url)
    try:
        async with engine.begin() as conn:
            wallets = await seed_wallets(conn, n, "EUR", credit=1)
            payments = []
            for wallet in wallets:
                pid = f"sbx_pay_{secrets.token_hex(12)}"
                owner = (
                    await conn.execute(
                        text("SELECT owner_id FROM billing.accounts WHERE id = :w"), {"w": wallet}
                    )
                ).scalar_one()
                await conn.execute(
                    text(
                        "INSERT INTO billing.payments (id, account_id, owner_id, provider,"
                        " provider_payment_id, amount, currency) VALUES"
                        " (gen_random_uuid(), :w, :o, 'sandbox', :p, 1000, 'EUR')"
                    ),
                    {"w": wallet, "o": owner, "p": pid},
                )
                payments.append({"provider_payment_id": pid, "amount": 1000, "currency": "EUR"})
            return payments
    finally:
        await engine.dispose()


def signed(secret: str, payment: dict) -> tuple[bytes, dict]:
    body = json.dumps(
        {
            "id": f"evt_{uuid.uuid4().hex}",
            "type": "payment.succeeded",
            "created": int(time.time()),
            "data": {
                "payment_id": payment["provider_payment_id"],
                "amount": payment["amount"],
                "currency": payment["currency"],
            },
        }
    ).encode()
    t = int(time.time())
    mac = hmac.new(secret.encode(), f"{t}.".encode() + body, hashlib.sha256).hexdigest()
    return body, {"Content-Type": "application/json", "Berth-Signature": f"t={t},v1={mac}"}


async def drive(base: str, requests: list, concurrency: int) -> tuple[float, list[float], list]:
    latencies: list[float] = []
    outcomes: list = []
    queue: asyncio.Queue = asyncio.Queue()
    for item in requests:
        queue.put_nowait(item)
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=base, timeout=60, limits=limits) as client:

        async def worker() -> None:
            while not queue.empty():
                method, path, body, headers = queue.get_nowait()
                start = time.perf_counter()
                r = await client.request(method, path, content=body, headers=headers)
                latencies.append(time.perf_counter() - start)
                outcomes.append((r.status_code, r.json().get("outcome") if body else None))

        start = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        return time.perf_counter() - start, latencies, outcomes


def pct(values: list[float], p: float) -> float:
    return statistics.quantiles(values, n=100)[int(p) - 1] * 1000


def report(label: str, elapsed: float, latencies: list[float]) -> None:
    print(
        f"{label:<34} {len(latencies) / elapsed:8.0f} req/s   p50 {pct(latencies, 50):6.1f} ms"
        f"   p95 {pct(latencies, 95):6.1f} ms   p99 {pct(latencies, 99):6.1f} ms"
    )


async def bench(base: str, database_url: str, secret: str, args) -> None:
    payments = await seed_payments(database_url, args.payments)
    health = [("GET", "/health", None, {})] * (args.payments * args.duplicates)
    elapsed, latencies, _ = await drive(base, health, args.concurrency)
    report("baseline GET /health", elapsed, latencies)

    deliveries = []
    for payment in payments:
        body, headers = signed(secret, payment)
        deliveries += [
            ("POST", "/api/billing/v1/webhooks/sandbox", body, headers)
        ] * args.duplicates
    # duplicates of one event sit next to each other: they arrive concurrently
    elapsed, latencies, outcomes = await drive(base, deliveries, args.concurrency)
    report(f"webhook deliveries ({args.duplicates}x each event)", elapsed, latencies)
    credited = sum(1 for status, outcome in outcomes if outcome == "credited")
    statuses = {status for status, _ in outcomes}
    print(
        f"{len(payments)} payments, {len(outcomes)} deliveries: {credited} credited, "
        f"{len(outcomes) - credited} answered as duplicates, statuses {sorted(statuses)}; "
        f"{credited / elapsed:.0f} credits/s"
    )
    topups, _, held, expected = await clearing_state(
        database_url, [p["provider_payment_id"] for p in payments]
    )
    print(
        f"top-up journal transactions of these payments: {topups} (expected {len(payments)}); "
        f"clearing shards' sum {held} = minus all paid {expected}: {held == expected}"
    )


def credit_worker(database_url, secret, shards, deliveries, tasks, *, ready, go, results, how):
    """One process: `tasks` sessions crediting `deliveries`: how="batched" through the web
    process's WebhookBatcher (each delivery verified alone, applied with those waiting with
    it), else one transaction per credit through handle_webhook, with the code under `how`
    (a source tree of services/billing) when it is a path."""
    os.environ["BILLING_WEBHOOK_SECRET"] = secret
    if how not in ("batched", "per-credit"):
        sys.path.insert(0, how)  # the baseline's code, ahead of this worktree's
    from loguru import logger

    logger.remove()  # one line per credit would cost more than the credit
    from berth_billing.config import BillingSettings
    from berth_billing.models import SCHEMA, Base
    from berth_billing.payments import service as payments
    from berth_billing.payments.provider import SandboxProvider
    from berth_common.db import Database

    async def run() -> None:
        settings = BillingSettings(database_url=database_url, clearing_shards=shards)
        provider = SandboxProvider(settings)
        # batched, a process needs a connection per lane only
        pool = settings.webhook_batch_lanes if how == "batched" else tasks
        db = Database(database_url, SCHEMA, metadata=Base.metadata, pool_size=pool)
        queue: asyncio.Queue = asyncio.Queue()
        for item in deliveries:
            queue.put_nowait(item)
        outcomes: list[str] = []
        if how == "batched":
            from berth_billing.payments.batcher import WebhookBatcher

            batcher = WebhookBatcher(SimpleNamespace(db=db), settings, provider.name)

        async def credit() -> None:
            while not queue.empty():
                body, headers = queue.get_nowait()
                headers = {k.lower(): v for k, v in headers.items()}
                if how == "batched":
                    event = provider.parse_webhook(headers, body)
                    outcomes.append(await batcher.submit(event))
                    continue
                async with db.sessionmaker() as session, session.begin():  # edge: one credit
                    outcomes.append(
                        await payments.handle_webhook(session, settings, provider, headers, body)
                    )

        async def warm() -> None:
            async with db.engine.connect() as conn:
                await conn.execute(text("SELECT 1"))
                await asyncio.sleep(0.2)

        await asyncio.gather(*(warm() for _ in range(pool)))  # the pool is full before `go`
        ready.put(os.getpid())
        await asyncio.get_running_loop().run_in_executor(None, go.wait)
        await asyncio.gather(*(credit() for _ in range(tasks)))
        results.put((time.time(), outcomes))
        await db.dispose()

    asyncio.run(run())


async def clearing_state(database_url: str, provider_ids: list[str]) -> tuple[int, int, int, int]:
    """(top-up transactions of these payments, clearing shards, sum of the shards' balances,
    minus what all succeeded payments paid in): the last two must be equal."""
    engine = create_async_engine(database_url)
    try:
        async with engine.connect() as conn:
            topups = (
                await conn.execute(
                    text(
                        "SELECT count(*) FROM billing.ledger_transactions t JOIN billing.payments p"
                        " ON t.key = 'payment:' || p.id WHERE p.provider_payment_id = ANY(:ids)"
                    ),
                    {"ids": provider_ids},
                )
            ).scalar_one()
            shards, held = (
                await conn.execute(
                    text(
                        "SELECT count(*), COALESCE(sum(balance), 0) FROM billing.accounts"
                        " WHERE kind = 'provider_clearing'"
                    )
                )
            ).one()
            paid = (
                await conn.execute(
                    text(
                        "SELECT COALESCE(sum(amount), 0) FROM billing.payments"
                        " WHERE status = 'succeeded'"
                    )
                )
            ).scalar_one()
            return topups, shards, int(held), -int(paid)
    finally:
        await engine.dispose()


async def posting_rate(database_url: str, shards: int, n: int, connections: int) -> float:
    """Balanced top-up postings/s in SQL alone (the database's side of a credit: the journal
    transaction, its two entries, the triggers' checks and balance moves, the commit) from
    `connections` connections, each credit's clearing leg on shard (n mod `shards`)."""
    import asyncpg

    engine = create_async_engine(database_url)
    async with engine.begin() as conn:
        wallets = await seed_wallets(conn, n, "EUR", credit=1)
        await conn.execute(
            text(
                "INSERT INTO billing.accounts (kind, owner_id, currency, shard)"
                " SELECT 'provider_clearing', NULL, 'EUR', g FROM generate_series(0, :last) g"
                " ON CONFLICT DO NOTHING"
            ),
            {"last": shards - 1},
        )
        clearing = dict(
            (
                await conn.execute(
                    text(
                        "SELECT shard, id FROM billing.accounts"
                        " WHERE kind = 'provider_clearing' AND shard < :n"
                    ),
                    {"n": shards},
                )
            ).all()
        )
    await engine.dispose()
    dsn = database_url.replace("postgresql+asyncpg://", "postgresql://")
    pool = await asyncpg.create_pool(dsn, min_size=connections, max_size=connections)
    queue: asyncio.Queue = asyncio.Queue()
    for i, wallet in enumerate(wallets):
        queue.put_nowait((uuid.uuid4(), wallet, clearing[i % shards]))

    async def post() -> None:
        async with pool.acquire() as conn:
            while not queue.empty():
                txn, wallet, shard = queue.get_nowait()
                async with conn.transaction():
                    await conn.execute(
                        "INSERT INTO billing.ledger_transactions (id, kind, key, description,"
                        " caused_by) VALUES ($1, 'topup', $2, 'bench', 'bench')",
                        txn,
                        f"bench:{txn}",
                    )
                    await conn.execute(
                        "INSERT INTO billing.ledger_entries (transaction_id, account_id, amount,"
                        " currency, kind, occurred_at) VALUES ($1, $2, 1000, 'EUR', 'topup',"
                        " now()), ($1, $3, -1000, 'EUR', 'topup', now())",
                        txn,
                        wallet,
                        shard,
                    )

    start = time.perf_counter()
    await asyncio.gather(*(post() for _ in range(connections)))
    elapsed = time.perf_counter() - start
    await pool.close()
    print(f"  clearing rows {shards:>3}: {n / elapsed:7.0f} postings/s  ({n} in {elapsed:.2f} s)")
    return n / elapsed


def credit_round(database_url: str, secret: str, args, *, how: str, label: str, n: int) -> float:
    """Credits/s of one round of `n` payments; prints what the ledger holds."""
    payments = asyncio.run(seed_payments(database_url, n))
    deliveries = [signed(secret, p) for p in payments]
    ctx = multiprocessing.get_context("spawn")
    ready, results, go = ctx.Queue(), ctx.Queue(), ctx.Event()
    tasks = args.batched_tasks if how == "batched" else args.tasks
    procs = [
        ctx.Process(
            target=credit_worker,
            args=(database_url, secret, args.shards, deliveries[k :: args.processes], tasks),
            kwargs={"ready": ready, "go": go, "results": results, "how": how},
        )
        for k in range(args.processes)
    ]
    for proc in procs:
        proc.start()
    for _ in procs:
        ready.get(timeout=120)
    start = time.time()
    go.set()
    ends, outcomes = [], []
    for _ in procs:
        end, got = results.get(timeout=900)
        ends.append(end)
        outcomes += got
    for proc in procs:
        proc.join()
    elapsed = max(ends) - start
    credited = outcomes.count("credited")
    topups, rows, held, expected = asyncio.run(
        clearing_state(database_url, [p["provider_payment_id"] for p in payments])
    )
    print(
        f"  {label:<44} {credited / elapsed:7.0f} credits/s  ({credited} of {len(payments)} "
        f"credited in {elapsed:.2f} s, {args.processes} processes x {tasks} in flight; "
        f"top-up transactions {topups}; clearing shards {rows}, their sum {held} = minus all "
        f"paid {expected}: {held == expected})"
    )
    return credited / elapsed


def baseline_source(rev: str, into: str) -> str:
    """services/billing as it was at `rev`, unpacked under `into`."""
    archive = subprocess.run(
        ["git", "-C", str(ROOT), "archive", rev, "services/billing/berth_billing"],
        check=True,
        capture_output=True,
    ).stdout
    subprocess.run(["tar", "-x", "-C", into], input=archive, check=True)
    return str(Path(into) / "services" / "billing")


def sql_rates(database_url: str, args) -> None:
    connections = args.tasks * args.processes
    print(f"ledger postings alone (SQL, {connections} connections, {args.credits} a round):")
    before = asyncio.run(posting_rate(database_url, 1, args.credits, connections))
    after = asyncio.run(posting_rate(database_url, args.shards, args.credits, connections))
    print(
        f"postings/s: {after:.0f} with {args.shards} clearing rows vs {before:.0f} with one "
        f"(before), x{after / before:.1f}"
    )


def credit_rates(database_url: str, secret: str, args) -> None:
    print(f"credits on the ledger path, {args.shards} clearing shards:")
    with tempfile.TemporaryDirectory() as tmp:
        old = baseline_source(args.baseline_rev, tmp)
        before = credit_round(
            database_url,
            secret,
            args,
            how=old,
            label=f"before ({args.baseline_rev}): a transaction each",
            n=args.baseline_credits,
        )
    each = credit_round(
        database_url,
        secret,
        args,
        how="per-credit",
        label="now: a transaction each",
        n=args.credits,
    )
    after = credit_round(
        database_url, secret, args, how="batched", label="now: batched", n=args.credits
    )
    print(
        f"credits/s: {after:.0f} batched, {each:.0f} a transaction each, vs {before:.0f} "
        f"before: x{after / before:.1f}"
    )


def http_round(database_url: str, secret: str, args, source: str | None) -> None:
    """The HTTP part against a billing web process running this worktree's code, or the
    billing code under `source` (ahead of it on the path)."""
    port = free_port()
    with isolated_vhost("berth_bench") as broker_url, tempfile.TemporaryDirectory() as tmp:
        env = {
            "PATH": str(BIN),
            "DATABASE_URL": database_url,
            "BROKER_URL": broker_url,
            "BILLING_WEBHOOK_SECRET": secret,
            "LOG_LEVEL": "WARNING",
            "DB_POOL_SIZE": "20",
        }
        if source:
            env["PYTHONPATH"] = source
        web = ManagedProcess(
            "billing",
            [
                *uvicorn_argv("billing", port),
                # a starved client may take longer than uvicorn's 5 s to send its next
                # request on a kept-alive connection, which uvicorn has closed by then
                "--timeout-keep-alive",
                "75",
            ],
            env=env,
            log_dir=Path(tmp),
            cwd=ROOT,
        ).start()
        try:
            web.wait_ready(http_ok(f"http://127.0.0.1:{port}/health"), timeout=40)
            asyncio.run(bench(f"http://127.0.0.1:{port}", database_url, secret, args))
        finally:
            web.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--credits", type=int, default=3000, help="payments per credit round")
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--tasks", type=int, default=12, help="sessions per process")
    parser.add_argument(
        "--batched-tasks", type=int, default=64, help="deliveries in flight per process, batched"
    )
    parser.add_argument(
        "--baseline-rev", default=BEFORE, help="the code of the 'before' round (a git revision)"
    )
    parser.add_argument("--baseline-credits", type=int, default=600)
    parser.add_argument("--shards", type=int, default=32, help="clearing rows, sharded round")
    parser.add_argument(
        "--parts", default="sql,ledger,http", help="of sql (postings), ledger (credits), http"
    )
    parser.add_argument("--payments", type=int, default=300)
    parser.add_argument("--duplicates", type=int, default=10)
    parser.add_argument("--concurrency", type=int, default=32)
    args = parser.parse_args()
    database_url = create_migrated_database(ROOT, prefix="berth_bench")
    secret = secrets.token_hex(32)
    try:
        print(f"load average before: {os.getloadavg()[0]:.2f} (1 min), {os.cpu_count()} cores")
        parts = set(args.parts.split(","))
        if "sql" in parts:
            sql_rates(database_url, args)
        if "ledger" in parts:
            credit_rates(database_url, secret, args)
        if "http" not in parts:
            return
        with tempfile.TemporaryDirectory() as tmp:
            old = baseline_source(args.baseline_rev, tmp)
            for label, source in ((f"before ({args.baseline_rev})", old), ("now", None)):
                print(f"through the web process, {label}:")
                http_round(database_url, secret, args, source)
    finally:
        print(f"load average after: {os.getloadavg()[0]:.2f} (1 min)")
        drop_database(database_url)


if __name__ == "__main__":
    main()
