"""Ticket lists and full-text search with a large desk: 100k tickets and 1M public messages
(and 100k internal notes) in a fresh database, through the tickets API in process (token
check, queries, serialisation; no network). Prints figures; never passes or fails.

    uv run python bench/tickets_search.py [--tickets 100000] [--messages 1000000] [--n 200]
        [--previous REF|none]

Each case's p50/p95 and the CPU this process spent per request (the app runs in it: steadier
than wall-clock on a shared machine) are printed beside the previous code's, run again in a
subprocess on its own fresh database (default: the parent of the newest commit that changed
services/tickets or libs/common).

Customers own 10 tickets each (one "busy" customer owns 2,000); messages are drawn from a
small vocabulary, so common words match hundreds of thousands of messages. Needs the
machine's PostgreSQL (and RabbitMQ for the app's readiness, not for the figures).
"""

import argparse
import asyncio
import os
import statistics
import sys
import time
import uuid
from pathlib import Path

import httpx
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from berth_testing.bench import DEFAULT_BROKER, beside_previous, previous_arguments  # noqa: E402
from berth_testing.oauth import bearer, mint_access_token  # noqa: E402
from berth_testing.plugin import (  # noqa: E402
    PORT_NAMES,
    PlatformDatabase,
    app_client,
    create_platform_database,
    drop_database,
    make_signing_jwks,
    service_env,
    trust_keys,
)
from berth_testing.processes import free_port  # noqa: E402

WORDS = (
    "deploy build crash timeout invoice refund payment balance domain certificate dns app "
    "worker memory cpu restart logs error database backup upgrade region latency webhook "
    "billing login password token quota limit scale node network proxy route ssl email"
).split()
BUSY = uuid.UUID("00000000-0000-4000-8000-00000000b051")
MEASURED = ["libs/common", "services/tickets"]


SEED = """
INSERT INTO tickets.departments (slug, name) VALUES ('tech', 'Technical');
INSERT INTO tickets.sla_policies (plan_tier, priority, first_response_minutes,
    next_response_minutes, resolution_minutes)
SELECT 'standard', p, 60, 120, 1440 FROM unnest(ARRAY['low','normal','high','urgent']) p;
CREATE TEMP TABLE words AS SELECT array[{words}] AS w;
INSERT INTO tickets.tickets (owner_id, department_id, subject, status, priority, plan_tier,
    sla_policy_id, first_response_due_at, resolution_due_at, created_at, updated_at)
SELECT CASE WHEN g <= 2000 THEN '{busy}'::uuid
            ELSE md5('owner' || (g / 10)::text)::uuid END,
       (SELECT id FROM tickets.departments WHERE slug = 'tech'),
       initcap((SELECT w[1 + (g * 7) % array_length(w, 1)] FROM words)) || ' ' ||
           (SELECT w[1 + (g * 13) % array_length(w, 1)] FROM words) || ' problem ' || g,
       (ARRAY['open','waiting_customer','closed','closed'])[1 + g % 4],
       (ARRAY['low','normal','high','urgent'])[1 + g % 4],
       'standard',
       (SELECT id FROM tickets.sla_policies WHERE priority = 'normal'),
       now() + ((g % 300) - 100) * interval '1 minute',
       now() + ((g % 3000) - 100) * interval '1 minute',
       now() - g * interval '1 minute', now() - g * interval '30 seconds'
FROM generate_series(1, {tickets}) g;
CREATE TEMP TABLE ids AS SELECT id, row_number() OVER (ORDER BY number) AS n
FROM tickets.tickets;
CREATE INDEX ON ids (n);
INSERT INTO tickets.ticket_messages (ticket_id, author_kind, body, created_at)
SELECT ids.id, CASE WHEN m % 2 = 0 THEN 'customer' ELSE 'staff' END,
       (SELECT string_agg(w[1 + ((m * k * 31 + k) % array_length(w, 1))], ' ')
          FROM words, generate_series(1, 12) k) || ' ref ' || m,
       now() - m * interval '3 seconds'
FROM generate_series(1, {messages}) m
JOIN ids ON ids.n = 1 + (m % {tickets});
INSERT INTO tickets.internal_notes (ticket_id, author_id, body)
SELECT id, '{busy}'::uuid, 'internal only ' || n FROM ids WHERE n % 1 = 0;
ANALYZE tickets.tickets;
ANALYZE tickets.ticket_messages;
ANALYZE tickets.internal_notes;
"""


async def seed(url: str, tickets: int, messages: int) -> float:
    engine = create_async_engine(url)
    words = ", ".join(f"'{w}'" for w in WORDS)
    started = time.perf_counter()
    async with engine.begin() as conn:  # edge: the bench's own seeding
        for statement in SEED.format(
            words=words, busy=BUSY, tickets=tickets, messages=messages
        ).split(";\n"):
            if statement.strip():
                await conn.execute(text(statement))
    await engine.dispose()
    return time.perf_counter() - started


async def measure(client: httpx.AsyncClient, path: str, params: dict, headers: dict, n: int):
    latencies = []
    total = None
    cpu = time.process_time()
    for _ in range(n):
        t0 = time.perf_counter()
        r = await client.get(path, params=params, headers=headers)
        latencies.append((time.perf_counter() - t0) * 1000)
        assert r.status_code == 200, r.text
        total = r.json()["total"]
    cpu_ms = (time.process_time() - cpu) / n * 1000
    q = statistics.quantiles(latencies, n=100)
    return {"p50": q[49], "p95": q[94], "cpu": cpu_ms, "total": total}


async def run(args: argparse.Namespace, database: PlatformDatabase) -> dict[str, float]:
    seconds = await seed(database.url, args.tickets, args.messages)
    print(f"seeded {args.tickets} tickets, {args.messages} messages in {seconds:.0f} s")
    jwks = make_signing_jwks()
    env = service_env(
        database_url=database.url,
        broker_url=os.environ.get("TEST_BROKER_URL", DEFAULT_BROKER),
        signing_jwks=jwks,
        ports={name: free_port() for name in PORT_NAMES},
        var=Path("/tmp"),
    )
    os.environ.update({**env, "LOG_LEVEL": "WARNING"})
    from berth_tickets.config import TicketsSettings
    from berth_tickets.main import create_app

    app = create_app(TicketsSettings())
    public = {"keys": [{k: v for k, v in key.items() if k != "d"} for key in jwks["keys"]]}
    issuer = env["BERTH_PUBLIC_URL"]
    busy = bearer(mint_access_token(jwks, issuer=issuer, subject=str(BUSY)))
    someone = bearer(
        mint_access_token(jwks, issuer=issuer, subject=str(uuid.UUID(_md5("owner5000"))))
    )
    support = bearer(
        mint_access_token(jwks, issuer=issuer, subject=str(uuid.uuid4()), roles=["support"])
    )
    cases = [
        ("customer list (10 tickets)", "/api/tickets/v1/tickets", {}, someone),
        ("customer search (10 tickets)", "/api/tickets/v1/tickets", {"q": "crash"}, someone),
        ("busy customer list (2,000)", "/api/tickets/v1/tickets", {}, busy),
        ("busy customer search", "/api/tickets/v1/tickets", {"q": "refund"}, busy),
        ("busy customer search, rare", "/api/tickets/v1/tickets", {"q": '"ref 77"'}, busy),
        ("staff queue page 1", "/api/tickets/v1/staff/tickets", {}, support),
        (
            "staff queue sla=breached",
            "/api/tickets/v1/staff/tickets",
            {"sla": "breached"},
            support,
        ),
        (
            "staff search, rare word",
            "/api/tickets/v1/staff/tickets",
            {"q": "problem 4241"},
            support,
        ),
        (
            "staff search, common word",
            "/api/tickets/v1/staff/tickets",
            {"q": "invoice"},
            support,
        ),
    ]
    figures = {}
    async with app_client(app) as client:
        trust_keys(app, public)
        for name, path, params, headers in cases:
            found = await measure(client, path, params, headers, args.n)
            figures[f"{name}: p50 ms"] = found["p50"]
            figures[f"{name}: p95 ms"] = found["p95"]
            figures[f"{name}: CPU ms/req"] = found["cpu"]
            figures[f"{name}: found"] = found["total"]
    return figures


def _md5(value: str) -> str:
    import hashlib

    return hashlib.md5(value.encode()).hexdigest()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tickets", type=int, default=100_000)
    parser.add_argument("--messages", type=int, default=1_000_000)
    parser.add_argument("--n", type=int, default=200)
    previous_arguments(parser)
    args = parser.parse_args()
    beside_previous(
        ROOT,
        MEASURED,
        args,
        measure_once,
        f"tickets API in process, {args.tickets:,} tickets, {args.messages:,} messages, "
        f"{args.n} requests per case",
    )


def measure_once(args: argparse.Namespace) -> dict[str, float]:
    database = create_platform_database(ROOT, prefix="berth_bench")
    try:
        return asyncio.run(run(args, database))
    finally:
        drop_database(database.url)


if __name__ == "__main__":
    main()
