"""Time from a reply email arriving to it showing in the thread: N replies sent one after
another with smtplib to the tickets SMTP receiver (real processes: receiver, worker, auth
for the sender check; real PostgreSQL and RabbitMQ), each timed from the start of the SMTP
transaction to its message row being visible. Then the same N sent at once (a burst), timed
to the last one landing. Prints figures; never passes or fails.

    uv run python bench/tickets_inbound.py [--replies 200] [--tickets 10] [--previous REF|none]

Every figure, with the CPU seconds the receiver and the worker spent per reply, is printed
beside the previous code's, run again in a subprocess on its own platform (default: the parent
of the newest commit that changed services/tickets or libs/common).
"""

import argparse
import asyncio
import smtplib
import statistics
import sys
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from email.message import EmailMessage
from email.utils import make_msgid
from pathlib import Path

import httpx
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

ROOT = Path(__file__).resolve().parent.parent

from berth_testing.bench import (  # noqa: E402
    bench_platform,
    beside_previous,
    cpu_seconds,
    previous_arguments,
)
from berth_testing.broker import isolated_vhost  # noqa: E402
from berth_tickets.config import TicketsSettings  # noqa: E402
from berth_tickets.notify.tokens import reply_address  # noqa: E402

PASSWORD = "bench-password-0123456789"
MEASURED = ["libs/common", "services/tickets"]


async def seed(database_url: str, owner_id: str, n: int) -> list[int]:
    engine = create_async_engine(database_url)
    try:
        async with engine.begin() as conn:
            department = (
                await conn.execute(
                    text(
                        "INSERT INTO tickets.departments (slug, name) VALUES (:s, 'Bench')"
                        " RETURNING id"
                    ),
                    {"s": f"bench-{uuid.uuid4().hex[:8]}"},
                )
            ).scalar_one()
            rows = await conn.execute(
                text(
                    "INSERT INTO tickets.tickets (owner_id, department_id, subject, status,"
                    " plan_tier) SELECT :o, :d, 'Bench ' || g, 'waiting_customer', 'standard'"
                    " FROM generate_series(1, :n) AS g RETURNING number"
                ),
                {"o": owner_id, "d": department, "n": n},
            )
            return [r[0] for r in rows]
    finally:
        await engine.dispose()


def reply(sender: str, to: str, i: int) -> EmailMessage:
    message = EmailMessage()
    message["From"] = sender
    message["To"] = to
    message["Subject"] = f"Re: bench {i}"
    message["Message-ID"] = make_msgid(domain="bench.example.test")
    message.set_content(f"Reply number {i}.\n\nOn Monday, Berth wrote:\n> question\n")
    return message


def send(port: int, message: EmailMessage) -> None:
    with smtplib.SMTP("127.0.0.1", port, timeout=30) as client:
        client.send_message(message)


async def landed(conn, message_id: str) -> bool:
    found = await conn.execute(
        text("SELECT 1 FROM tickets.ticket_messages WHERE email_message_id = :m"),
        {"m": message_id},
    )
    return found.first() is not None


async def measure(database_url: str, port: int, sender: str, addresses: list[str], n: int):
    engine = create_async_engine(database_url)
    latencies: list[float] = []
    try:
        async with engine.connect() as conn:
            for i in range(n):
                message = reply(sender, addresses[i % len(addresses)], i)
                start = time.perf_counter()
                await asyncio.to_thread(send, port, message)
                while not await landed(conn, message["Message-ID"]):
                    await conn.rollback()
                    await asyncio.sleep(0.002)
                await conn.rollback()
                latencies.append(time.perf_counter() - start)

            burst = [reply(sender, addresses[i % len(addresses)], n + i) for i in range(n)]
            start = time.perf_counter()
            with ThreadPoolExecutor(8) as pool:
                list(pool.map(lambda m: send(port, m), burst))
            accepted_at = time.perf_counter() - start
            ids = [m["Message-ID"] for m in burst]
            while True:
                count = (
                    await conn.execute(
                        text(
                            "SELECT count(*) FROM tickets.ticket_messages"
                            " WHERE email_message_id = ANY(:ids)"
                        ),
                        {"ids": ids},
                    )
                ).scalar_one()
                await conn.rollback()
                if count == len(ids):
                    break
                await asyncio.sleep(0.01)
            burst_total = time.perf_counter() - start
    finally:
        await engine.dispose()
    return latencies, accepted_at, burst_total


def pct(values: list[float], p: int) -> float:
    return statistics.quantiles(values, n=100)[p - 1] * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--replies", type=int, default=200)
    parser.add_argument("--tickets", type=int, default=10)
    previous_arguments(parser)
    args = parser.parse_args()
    beside_previous(
        ROOT,
        MEASURED,
        args,
        measure_once,
        f"reply by email -> in the thread: {args.replies} one at a time, then {args.replies} "
        "at once from 8 connections",
    )


def measure_once(args: argparse.Namespace) -> dict[str, float]:
    with (
        isolated_vhost("berth_bench") as broker_url,
        bench_platform(ROOT, {"LOG_LEVEL": "INFO"}, broker_url) as platform,
    ):
        platform.start_web("auth")
        worker = platform.start_worker("tickets", concurrency=2)
        receiver = platform.start_tickets_inbound()
        sender = f"bench-{uuid.uuid4().hex[:8]}@example.test"
        r = httpx.post(
            f"{platform.url('auth')}/api/auth/v1/register",
            json={"email": sender, "password": PASSWORD},
            timeout=30,
        )
        r.raise_for_status()
        database_url = platform.env["DATABASE_URL"]
        owner_id = asyncio.run(_user_id(database_url, sender))
        numbers = asyncio.run(seed(database_url, owner_id, args.tickets))
        settings = TicketsSettings(**{"reply_secret": platform.env["TICKETS_REPLY_SECRET"]})
        addresses = [reply_address(settings, n, 1) for n in numbers]
        pids = {"receiver": receiver.pid, "worker": worker.pid}
        cpu = {name: cpu_seconds(pid) for name, pid in pids.items()}
        latencies, accepted, burst = asyncio.run(
            measure(
                database_url, platform.ports["tickets_inbound"], sender, addresses, args.replies
            )
        )
        replies = 2 * args.replies
        spent = {
            name: (cpu_seconds(pid) - cpu[name]) / replies * 1000 for name, pid in pids.items()
        }
    return {
        "one at a time: p50 ms": pct(latencies, 50),
        "one at a time: p95 ms": pct(latencies, 95),
        "one at a time: max ms": max(latencies) * 1000,
        "burst: all accepted by SMTP, s": accepted,
        "burst: all in their threads, s": burst,
        "burst: replies/s": args.replies / burst,
        "receiver CPU ms/reply": spent["receiver"],
        "worker CPU ms/reply": spent["worker"],
    }


async def _user_id(database_url: str, email: str) -> str:
    engine = create_async_engine(database_url)
    try:
        async with engine.connect() as conn:
            found = await conn.execute(
                text("SELECT id FROM auth.users WHERE email = :e"), {"e": email}
            )
            return str(found.scalar_one())
    finally:
        await engine.dispose()


if __name__ == "__main__":
    sys.exit(main())
