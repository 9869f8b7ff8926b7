"""Billing's credit path for bench/billing_webhooks.py: payments seeded set-based, signed
sandbox events, and credits/s on the ledger path from several processes (a round of the code
under test, or of a baseline's source tree), with what the ledger holds afterwards."""

import asyncio
import multiprocessing
import os
import secrets
import sys
import time
import uuid
from types import SimpleNamespace

from billing_e2e import provider_event, signature
from billing_seed import seed_wallets
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine


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
    body = provider_event(payment)
    return body, {"Content-Type": "application/json", "Berth-Signature": signature(secret, body)}


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
