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
import os
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))


from _billing_credits import (  # noqa: E402
    clearing_state,
    credit_round,
    posting_rate,
    seed_payments,
    signed,
)

from berth_testing.bench import print_beside  # noqa: E402
from berth_testing.broker import isolated_vhost  # noqa: E402
from berth_testing.platform import uvicorn_argv  # noqa: E402
from berth_testing.plugin import create_migrated_database, drop_database  # noqa: E402
from berth_testing.processes import ManagedProcess, free_port, http_ok  # noqa: E402

BIN = Path(sys.executable).parent
# billing before webhook deliveries were batched (one transaction and ~13 round trips a credit)
BEFORE = "86d5793"


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


def figures(label: str, elapsed: float, latencies: list[float]) -> dict[str, float]:
    return {
        f"{label}: req/s": len(latencies) / elapsed,
        f"{label}: p50 ms": pct(latencies, 50),
        f"{label}: p95 ms": pct(latencies, 95),
        f"{label}: p99 ms": pct(latencies, 99),
    }


async def bench(base: str, database_url: str, secret: str, args) -> dict[str, float]:
    payments = await seed_payments(database_url, args.payments)
    health = [("GET", "/health", None, {})] * (args.payments * args.duplicates)
    elapsed, latencies, _ = await drive(base, health, args.concurrency)
    found = figures("GET /health (peer)", elapsed, latencies)

    deliveries = []
    for payment in payments:
        body, headers = signed(secret, payment)
        deliveries += [
            ("POST", "/api/billing/v1/webhooks/sandbox", body, headers)
        ] * args.duplicates
    # duplicates of one event sit next to each other: they arrive concurrently
    elapsed, latencies, outcomes = await drive(base, deliveries, args.concurrency)
    found |= figures(f"deliveries ({args.duplicates}x each event)", elapsed, latencies)
    credited = sum(1 for status, outcome in outcomes if outcome == "credited")
    statuses = {status for status, _ in outcomes}
    print(
        f"{len(payments)} payments, {len(outcomes)} deliveries: {credited} credited, "
        f"{len(outcomes) - credited} answered as duplicates, statuses {sorted(statuses)}; "
        f"{credited / elapsed:.0f} credits/s"
    )
    found["credits/s through HTTP"] = credited / elapsed
    topups, _, held, expected = await clearing_state(
        database_url, [p["provider_payment_id"] for p in payments]
    )
    print(
        f"top-up journal transactions of these payments: {topups} (expected {len(payments)}); "
        f"clearing shards' sum {held} = minus all paid {expected}: {held == expected}"
    )
    return found


def baseline_source(rev: str, into: str) -> str:
    """services/billing as it was at `rev`, unpacked under `into`."""
    archive = subprocess.run(
        ["git", "-C", str(ROOT), "archive", rev, "services/billing/berth_billing"],
        check=True,
        capture_output=True,
    ).stdout
    subprocess.run(["tar", "-x", "-C", into], input=archive, check=True)
    return str(Path(into) / "services" / "billing")


def sql_rates(args) -> None:
    """In a database of their own: these postings move the clearing shards with no payment
    behind them, which the other parts' check (shards = minus all paid) would count."""
    connections = args.tasks * args.processes
    print(f"ledger postings alone (SQL, {connections} connections, {args.credits} a round):")
    database_url = create_migrated_database(ROOT, prefix="berth_bench")
    try:
        before = asyncio.run(posting_rate(database_url, 1, args.credits, connections))
        after = asyncio.run(posting_rate(database_url, args.shards, args.credits, connections))
    finally:
        drop_database(database_url)
    print_beside(
        "ledger postings alone (SQL)",
        {f"postings/s, {args.shards} clearing rows": after},
        {f"postings/s, {args.shards} clearing rows": before},
        "one row",
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
    print_beside(
        f"credits on the ledger path, {args.shards} clearing shards",
        {"credits/s, a transaction each": each, "credits/s, batched": after},
        {"credits/s, a transaction each": before, "credits/s, batched": before},
        args.baseline_rev,
    )


def http_round(database_url: str, secret: str, args, source: str | None) -> dict[str, float]:
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
            return asyncio.run(bench(f"http://127.0.0.1:{port}", database_url, secret, args))
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
            sql_rates(args)
        if "ledger" in parts:
            credit_rates(database_url, secret, args)
        if "http" not in parts:
            return
        with tempfile.TemporaryDirectory() as tmp:
            old = baseline_source(args.baseline_rev, tmp)
            print(f"through the web process, before ({args.baseline_rev}):")
            before = http_round(database_url, secret, args, old)
            print("through the web process, now:")
            now = http_round(database_url, secret, args, None)
        print_beside(
            f"webhook deliveries through the web process, {args.concurrency} concurrent",
            now,
            before,
            args.baseline_rev,
        )
    finally:
        print(f"load average after: {os.getloadavg()[0]:.2f} (1 min)")
        drop_database(database_url)


if __name__ == "__main__":
    main()
