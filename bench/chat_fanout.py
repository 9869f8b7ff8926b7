"""Chat fan-out: N connected WebSocket clients across 2 chat replicas (real processes, real
PostgreSQL and RabbitMQ), the clients in `--procs` processes of their own (bench/_chat_clients.py,
uvloop). Each conversation's customer sends M messages at `--rate` messages/s in all; every
`message` frame a socket receives is a delivery (the sender's own socket gets its message
too), counted once per (conversation, seq) per socket (a second one is reported as a
duplicate). Latency: the send time (in the body) to a socket reading it. Memory per
connection: the replicas' RSS growth over the connections they hold. Baseline in the same
run: the same load with every socket on ONE replica (no cross-replica hop).

Shapes: `pair` (N/2 conversations, customer + one support socket, on different replicas:
every message is 2 deliveries and crosses replicas); `desk` (`--staff` support sockets, the
other sockets customers, each conversation watched by `--watchers` support sockets: every
message is 1 + watchers deliveries, customers and staff alternating between the replicas).
Also printed: the cores each part used while sending (replicas, client processes, the bench
database's PostgreSQL backends, RabbitMQ, the whole machine, others' work included) and the
PostgreSQL checkpoints meanwhile. Replicas run like the Procfile (permessage-deflate off);
`--deflate` turns it on and has the clients offer it, as browsers do. Prints figures; never
passes or fails.

    uv run python bench/chat_fanout.py [--shape pair|desk] [--sockets 1000] [--messages 10]
        [--rate 300] [--procs 2] [--staff 100] [--watchers 10] [--wait 120] [--deflate]
"""

import argparse
import asyncio
import json
import multiprocessing
import statistics
import sys
import time
import uuid
from pathlib import Path

import psutil
from sqlalchemy import text
from sqlalchemy.exc import ProgrammingError
from sqlalchemy.ext.asyncio import create_async_engine

ROOT = Path(__file__).resolve().parent.parent

from _chat_clients import Plan, worker  # noqa: E402 (bench/, next to this script)

from berth_testing.bench import bench_platform, print_beside  # noqa: E402
from berth_testing.broker import isolated_vhost  # noqa: E402
from berth_testing.oauth import mint_access_token  # noqa: E402
from berth_testing.platform import BIN  # noqa: E402
from berth_testing.processes import free_port  # noqa: E402


async def seed(database_url: str, customers: list[str]) -> list[str]:
    engine = create_async_engine(database_url)
    try:
        async with engine.begin() as conn:
            rows = await conn.execute(
                text(
                    "INSERT INTO chat.conversations (customer_id, kind, state)"
                    " SELECT c::uuid, 'support', 'bot' FROM unnest(CAST(:c AS text[])) AS c"
                    " RETURNING id, customer_id"
                ),
                {"c": customers},
            )
            by_customer = {str(r[1]): str(r[0]) for r in rows}
        return [by_customer[c] for c in customers]
    finally:
        await engine.dispose()


def rss(pids: list[int]) -> int:
    return sum(psutil.Process(p).memory_info().rss for p in pids)


async def _query(database_url: str, sql: str) -> list[tuple]:
    engine = create_async_engine(database_url)
    try:
        async with engine.connect() as conn:
            return [tuple(r) for r in await conn.execute(text(sql))]
    finally:
        await engine.dispose()


def backend_pids(database_url: str) -> list[int]:
    """The PostgreSQL server processes of the bench's database (the replicas' pools)."""
    sql = (
        "SELECT pid FROM pg_stat_activity WHERE datname = current_database()"
        " AND pid <> pg_backend_pid()"
    )
    return [r[0] for r in asyncio.run(_query(database_url, sql))]


def checkpoints(database_url: str) -> int:
    """The server's checkpoints so far (others' CREATE/DROP DATABASE force one each: every
    commit waits on their writes meanwhile). PostgreSQL 17+ count them in pg_stat_checkpointer."""
    for sql in (
        "SELECT num_timed + num_requested FROM pg_stat_checkpointer",
        "SELECT checkpoints_timed + checkpoints_req FROM pg_stat_bgwriter",
    ):
        try:
            return asyncio.run(_query(database_url, sql))[0][0]
        except ProgrammingError:  # the view of the other server version
            continue
    return -1


def cpu_seconds(pids: list[int]) -> dict[int, float]:
    out = {}
    for pid in pids:
        try:
            t = psutil.Process(pid).cpu_times()
        except psutil.Error:
            continue
        out[pid] = t.user + t.system
    return out


class CpuMeter:
    """CPU seconds spent over the sending window by the replicas, the client processes, the
    bench database's PostgreSQL backends, RabbitMQ (the whole broker: other vhosts too) and
    the whole machine (everything else running on it included)."""

    def __init__(self, replicas: list[int], clients: list[int], database_url: str):
        self.groups = {"replicas": replicas, "clients": clients}
        self.database_url = database_url
        broker = [p.pid for p in psutil.process_iter(["name"]) if p.info["name"] == "beam.smp"]
        self.groups["rabbitmq"] = broker

    def _snapshot(self) -> dict[str, dict[int, float]]:
        groups = {**self.groups, "postgres": backend_pids(self.database_url)}
        snap = {name: cpu_seconds(pids) for name, pids in groups.items()}
        t = psutil.cpu_times()
        snap["machine"] = {0: sum(t) - t.idle - getattr(t, "iowait", 0.0)}
        return snap

    def start(self) -> None:
        self.before = self._snapshot()
        self.checkpoints = checkpoints(self.database_url)
        self.started = time.monotonic()

    def stop(self) -> dict[str, float]:
        """Cores used per group over the window (1.0 = one core busy all the time)."""
        after = self._snapshot()
        wall = time.monotonic() - self.started
        self.checkpoints = checkpoints(self.database_url) - self.checkpoints
        return {
            name: sum(v - self.before[name].get(pid, 0.0) for pid, v in now.items()) / wall
            for name, now in after.items()
        }


def plans_for(
    shape: str, ports: tuple[int, int], cids: list[str], customers: list[str], mint, args
) -> list[Plan]:
    """pair: each conversation's customer on one replica, one support socket watching it on
    the other (alternating, so both replicas take sends and every message crosses). desk:
    `--staff` support sockets, each conversation watched by `--watchers` of them (every
    message is 1 + watchers deliveries); customers and staff alternate between replicas."""
    plans = [
        Plan(ports[i % 2], mint(c, ["user"]), [cid], sends=True)
        for i, (c, cid) in enumerate(zip(customers, cids, strict=True))
    ]
    if shape == "pair":
        plans += [
            Plan(ports[(i + 1) % 2], mint(str(uuid.uuid4()), ["user", "support"]), [cid])
            for i, cid in enumerate(cids)
        ]
        return plans
    watched: list[list[str]] = [[] for _ in range(args.staff)]
    for i, cid in enumerate(cids):
        for j in range(args.watchers):
            watched[(i * args.watchers + j) % args.staff].append(cid)
    plans += [
        Plan(ports[s % 2], mint(str(uuid.uuid4()), ["user", "support"]), convs)
        for s, convs in enumerate(watched)
    ]
    return plans


def run_load(shape: str, ports: tuple[int, int], pids: list[int], database_url: str, mint, args):
    conversations = args.sockets // 2 if shape == "pair" else args.sockets - args.staff
    customers = [str(uuid.uuid4()) for _ in range(conversations)]
    cids = asyncio.run(seed(database_url, customers))
    plans = plans_for(shape, ports, cids, customers, mint, args)
    before = rss(pids)
    ctx = multiprocessing.get_context("spawn")
    shares = [plans[i :: args.procs] for i in range(args.procs)]
    senders = sum(p.sends for p in plans)
    procs, pipes = [], []
    for share in shares:
        mine, theirs = ctx.Pipe()
        rate = args.rate * sum(p.sends for p in share) / senders
        proc = ctx.Process(
            target=worker, args=(share, args.messages, rate, args.wait, args.deflate, theirs)
        )
        proc.start()
        procs.append(proc)
        pipes.append(mine)
    for pipe in pipes:
        assert pipe.recv()[0] == "ready"
    time.sleep(1.0)
    after = rss(pids)
    meter = CpuMeter(pids, [p.pid for p in procs], database_url)
    meter.start()
    start = time.time() + 0.5
    print(f"{shape}: {len(plans)} sockets subscribed, sending", file=sys.stderr, flush=True)
    for pipe in pipes:
        pipe.send(start)
    results = [pipe.recv()[1] for pipe in pipes]
    cores = meter.stop()
    for proc in procs:
        proc.join(30)
    delivered = sum(r["delivered"] for r in results)
    expected = sum(r["expected"] for r in results)
    errors = sum(r["errors"] for r in results)
    last = max(r["last"] for r in results) or time.time()
    elapsed = last - start
    lat = sorted(x for r in results for x in r["latencies"])
    per_message = expected // (conversations * args.messages)
    return {
        "connections": len(plans),
        "conversations": conversations,
        "sent": sum(r["sent"] for r in results),
        "delivered": delivered,
        "expected": expected,
        "per_second": delivered / elapsed if elapsed > 0 else 0.0,
        "p50": statistics.quantiles(lat, n=100)[49] * 1000 if len(lat) > 2 else float("nan"),
        "p99": statistics.quantiles(lat, n=100)[98] * 1000 if len(lat) > 2 else float("nan"),
        "rss_per_conn": (after - before) / len(plans),
        "errors": errors,
        "duplicates": sum(r["duplicates"] for r in results),
        # a refused send is the deliveries of one message that never happen
        "missing_beyond_refused": expected - per_message * errors - delivered,
        "closed_mid_run": [c for r in results for c in r["closed"]],
        "cores": cores,
        "checkpoints": meter.checkpoints,
    }


def report(label: str, r: dict) -> None:
    print(
        f"{label}: {r['connections']} sockets, {r['conversations']} conversations, "
        f"{r['sent']} messages sent, "
        f"{r['delivered']}/{r['expected']} deliveries, {r['per_second']:.0f} deliveries/s, "
        f"p50 {r['p50']:.1f} ms, p99 {r['p99']:.1f} ms, "
        f"memory {r['rss_per_conn'] / 1024:.1f} KiB per connection (server RSS growth), "
        f"{r['errors']} sends refused (error frames), "
        f"{r['duplicates']} duplicate frames (not counted), "
        f"{r['missing_beyond_refused']} deliveries missing beyond the refused sends, "
        f"{len(r['closed_mid_run'])} sockets closed mid-run {sorted({str(c) for c in r['closed_mid_run']})}"
    )
    cores = ", ".join(f"{name} {used:.2f}" for name, used in r["cores"].items())
    print(
        f"  cores used while sending (of {psutil.cpu_count()}): {cores}; "
        f"PostgreSQL checkpoints meanwhile: {r['checkpoints']}"
    )


def start_replica(platform, name: str, port: int, deflate: bool):
    """A chat web replica as the Procfile runs it (permessage-deflate off), or with uvicorn's
    default (on) for `--deflate`."""
    cmd = [str(BIN / "uvicorn"), "berth_chat.main:create_app", "--factory", "--host"]
    cmd += ["127.0.0.1", "--port", str(port), "--no-access-log"]
    if not deflate:
        cmd += ["--ws-per-message-deflate", "false"]
    return platform._start(name, cmd, f"http://127.0.0.1:{port}/health")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--shape", choices=["pair", "desk"], default="pair")
    parser.add_argument("--sockets", type=int, default=1000)
    parser.add_argument("--staff", type=int, default=100, help="desk: support sockets")
    parser.add_argument(
        "--watchers", type=int, default=10, help="desk: support sockets watching each conversation"
    )
    parser.add_argument("--messages", type=int, default=10, help="messages per conversation")
    parser.add_argument("--rate", type=float, default=300.0, help="messages sent per second")
    parser.add_argument("--procs", type=int, default=2, help="client processes")
    parser.add_argument(
        "--wait", type=float, default=120.0, help="seconds to wait for the last deliveries"
    )
    parser.add_argument(
        "--deflate",
        action="store_true",
        help="replicas allow permessage-deflate and clients offer it (as browsers do)",
    )
    args = parser.parse_args()
    extra = {"CHAT_MESSAGE_RATE": "100000/second", "LOG_LEVEL": "WARNING"}
    with (
        isolated_vhost("berth_bench") as broker_url,
        bench_platform(ROOT, extra, broker_url) as platform,
    ):
        platform.start_web("auth")
        first, port2 = platform.ports["chat"], free_port()
        replicas = [
            start_replica(platform, name, port, args.deflate)
            for name, port in (("chat", first), ("chat-2", port2))
        ]
        keys = json.loads(platform.env["AUTH_JWT_PRIVATE_JWKS"])
        issuer = platform.env["BERTH_PUBLIC_URL"]

        def mint(subject: str, roles: list[str]) -> str:
            return mint_access_token(
                keys, issuer=issuer, subject=subject, roles=roles, lifetime=3600
            )

        pids = [replica.pid for replica in replicas]
        database_url = platform.env["DATABASE_URL"]
        two = run_load(args.shape, (first, port2), pids, database_url, mint, args)
        one = run_load(args.shape, (first, first), pids, database_url, mint, args)
    across = "every message crosses" if args.shape == "pair" else "watchers on both"
    report(f"{args.shape}, 2 replicas ({across})", two)
    report(f"{args.shape}, baseline: 1 replica", one)
    print_beside(
        f"{args.shape}, 2 replicas ({across}) beside the same load on 1 replica, this run",
        figures(two),
        figures(one),
        base_label="1 replica",
    )


def figures(r: dict) -> dict[str, float]:
    return {
        "deliveries/s": r["per_second"],
        "latency p50 ms": r["p50"],
        "latency p99 ms": r["p99"],
        "server RSS KiB/connection": r["rss_per_conn"] / 1024,
        **{f"cores used: {name}": used for name, used in r["cores"].items()},
        "sends refused": r["errors"],
        "duplicate frames": r["duplicates"],
        "deliveries missing beyond refused": r["missing_beyond_refused"],
        "sockets closed mid-run": len(r["closed_mid_run"]),
    }


if __name__ == "__main__":
    sys.exit(main())
