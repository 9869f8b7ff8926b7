"""Webhook handling of the billing web process (uvicorn, real PostgreSQL and RabbitMQ):
N pending payments, each payment's success event delivered 10 times concurrently (as a
provider retrying over a flaky network would), verified credited exactly once. Baseline in
the same run: GET /health at the same concurrency. Prints figures; never passes or fails.

    uv run python bench/billing_webhooks.py [--payments 300] [--duplicates 10] [--concurrency 32]
"""

import argparse
import asyncio
import hashlib
import hmac
import json
import secrets
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from billing_seed import seed_wallets  # noqa: E402
from sqlalchemy import text  # noqa: E402
from sqlalchemy.ext.asyncio import create_async_engine  # noqa: E402

from berth_testing.plugin import (  # noqa: E402
    create_migrated_database,
    drop_database,
    isolated_vhost,
)
from berth_testing.processes import ManagedProcess, free_port, http_ok  # noqa: E402

BIN = Path(sys.executable).parent


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
    report(f"webhooks ({args.duplicates}x each event)", elapsed, latencies)
    credited = sum(1 for status, outcome in outcomes if outcome == "credited")
    statuses = {status for status, _ in outcomes}
    print(
        f"{len(payments)} payments, {len(outcomes)} deliveries: {credited} credited, "
        f"{len(outcomes) - credited} answered as duplicates, statuses {sorted(statuses)}; "
        f"{credited / elapsed:.0f} credits/s"
    )
    engine = create_async_engine(database_url)
    async with engine.connect() as conn:
        topups = (
            await conn.execute(
                text("SELECT count(*) FROM billing.ledger_transactions WHERE kind = 'topup'")
            )
        ).scalar_one()
    await engine.dispose()
    print(f"top-up journal transactions in the ledger: {topups} (expected {len(payments)})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--payments", type=int, default=300)
    parser.add_argument("--duplicates", type=int, default=10)
    parser.add_argument("--concurrency", type=int, default=32)
    args = parser.parse_args()
    database_url = create_migrated_database(ROOT, prefix="berth_bench")
    secret = secrets.token_hex(32)
    port = free_port()
    try:
        with isolated_vhost("berth_bench") as broker_url, tempfile.TemporaryDirectory() as tmp:
            env = {
                "PATH": str(BIN),
                "DATABASE_URL": database_url,
                "BROKER_URL": broker_url,
                "BILLING_WEBHOOK_SECRET": secret,
                "LOG_LEVEL": "WARNING",
                "DB_POOL_SIZE": "20",
            }
            web = ManagedProcess(
                "billing",
                [
                    str(BIN / "uvicorn"),
                    "berth_billing.main:create_app",
                    "--factory",
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(port),
                    "--no-access-log",
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
    finally:
        drop_database(database_url)


if __name__ == "__main__":
    main()
