"""Chat fan-out: N connected WebSocket clients across 2 chat replicas (real processes, real
PostgreSQL and RabbitMQ). C conversations × 2 participants: the customer's socket on replica A,
support's on replica B, so every message crosses replicas over `chat.fanout`. Each customer
sends M messages; every `message` frame any socket receives is a delivery (the sender's own
socket gets its message too). Latency: the send time (in the body) to a socket receiving it.
Memory per connection: the replicas' RSS growth over the connections they hold. Baseline in the
same run: the same load with both participants on ONE replica (no cross-replica hop).
Prints figures; never passes or fails.

    uv run python bench/chat_fanout.py [--conversations 500] [--messages 10] [--rate 300] [--wait 120]
"""

import argparse
import asyncio
import json
import statistics
import sys
import time
import uuid
from pathlib import Path

import psutil
import websockets
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

ROOT = Path(__file__).resolve().parent.parent

from berth_testing.bench import bench_platform  # noqa: E402
from berth_testing.oauth import mint_access_token  # noqa: E402
from berth_testing.platform import BIN  # noqa: E402
from berth_testing.plugin import isolated_vhost  # noqa: E402
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


class Socket:
    def __init__(self, ws, stats: dict):
        self.ws = ws
        self.stats = stats

    async def run(self) -> None:
        try:
            async for raw in self.ws:
                frame = json.loads(raw)
                if frame["type"] == "ping":
                    # the protocol's keepalive: a peer silent past ping interval + timeout
                    # (50 s) is closed 4408; support's sockets here never send anything else
                    await self.ws.send('{"type":"pong"}')
                if frame["type"] == "error":
                    self.stats["errors"] += 1
                if frame["type"] == "message":
                    now = time.time()
                    sent = float(frame["message"]["body"].split(" ", 1)[0])
                    self.stats["latencies"].append(now - sent)
                    self.stats["delivered"] += 1
                    self.stats["last"] = now
        except websockets.ConnectionClosed as exc:
            # a socket closed mid-run (by the server, or a keepalive timeout) misses what
            # came after: counted, so a shortfall is never mistaken for a lost message
            self.stats["closed"].append(exc.rcvd.code if exc.rcvd else None)


async def open_socket(port: int, token: str, cid: str, stats: dict) -> Socket:
    ws = await websockets.connect(
        f"ws://127.0.0.1:{port}/api/chat/v1/ws",
        additional_headers={"Authorization": f"Bearer {token}"},
        proxy=None,
        open_timeout=60,
        max_queue=None,
        compression=None,
    )
    assert json.loads(await ws.recv())["type"] == "hello"
    await ws.send(json.dumps({"type": "subscribe", "conversation_id": cid}))
    while json.loads(await ws.recv())["type"] != "subscribed":
        pass
    return Socket(ws, stats)


def rss(pids: list[int]) -> int:
    return sum(psutil.Process(p).memory_info().rss for p in pids)


async def run_load(
    ports: tuple[int, int],
    pids: list[int],
    database_url: str,
    mint,
    staff_token: str,
    conversations: int,
    messages: int,
    rate: float,
    wait: float,
) -> dict:
    customers = [str(uuid.uuid4()) for _ in range(conversations)]
    cids = await seed(database_url, customers)
    stats = {"latencies": [], "delivered": 0, "last": 0.0, "errors": 0, "closed": []}
    before = rss(pids)
    senders, readers, tasks = [], [], []
    for i, (customer, cid) in enumerate(zip(customers, cids, strict=True)):
        a = await open_socket(ports[0], mint(customer, ["user"]), cid, stats)
        s = await open_socket(ports[1], staff_token, cid, stats)
        senders.append((a, cid))
        readers += [a, s]
        # read (and answer pings) from the start: opening 1,000 sockets takes a while
        tasks += [asyncio.create_task(a.run()), asyncio.create_task(s.run())]
        if i % 100 == 99:
            await asyncio.sleep(0)
    await asyncio.sleep(1.0)
    after = rss(pids)
    total = conversations * messages
    interval = 1.0 / rate
    start = time.time()
    n = 0
    for round_ in range(messages):
        for a, cid in senders:
            target = start + n * interval
            delay = target - time.time()
            if delay > 0:
                await asyncio.sleep(delay)
            await a.ws.send(
                json.dumps(
                    {
                        "type": "send",
                        "conversation_id": cid,
                        "client_msg_id": f"m{round_}",
                        "body": f"{time.time():.6f} hello",
                    }
                )
            )
            n += 1
    expected = total * 2
    deadline = time.time() + wait
    while stats["delivered"] < expected and time.time() < deadline:  # noqa: ASYNC110
        await asyncio.sleep(0.1)
    elapsed = (stats["last"] or time.time()) - start
    closed_mid_run = list(stats["closed"])
    for sock in readers:
        await sock.ws.close()
    for task in tasks:
        task.cancel()
    lat = sorted(stats["latencies"])
    return {
        "connections": len(readers),
        "sent": total,
        "delivered": stats["delivered"],
        "expected": expected,
        "per_second": stats["delivered"] / elapsed if elapsed > 0 else 0.0,
        "p50": statistics.quantiles(lat, n=100)[49] * 1000 if len(lat) > 2 else float("nan"),
        "p99": statistics.quantiles(lat, n=100)[98] * 1000 if len(lat) > 2 else float("nan"),
        "rss_per_conn": (after - before) / len(readers),
        "errors": stats["errors"],
        # a refused send is 2 deliveries that never happen (the sender's and the other's)
        "missing_beyond_refused": expected - 2 * stats["errors"] - stats["delivered"],
        "closed_mid_run": closed_mid_run,
    }


def report(label: str, r: dict) -> None:
    print(
        f"{label}: {r['connections']} sockets, {r['sent']} messages sent, "
        f"{r['delivered']}/{r['expected']} deliveries, {r['per_second']:.0f} deliveries/s, "
        f"p50 {r['p50']:.1f} ms, p99 {r['p99']:.1f} ms, "
        f"memory {r['rss_per_conn'] / 1024:.1f} KiB per connection (server RSS growth), "
        f"{r['errors']} sends refused (error frames), "
        f"{r['missing_beyond_refused']} deliveries missing beyond the refused sends, "
        f"{len(r['closed_mid_run'])} sockets closed mid-run {sorted({str(c) for c in r['closed_mid_run']})}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--conversations", type=int, default=500)
    parser.add_argument("--messages", type=int, default=10)
    parser.add_argument("--rate", type=float, default=300.0, help="messages sent per second")
    parser.add_argument(
        "--wait", type=float, default=120.0, help="seconds to wait for the last deliveries"
    )
    args = parser.parse_args()
    extra = {"CHAT_MESSAGE_RATE": "100000/second", "LOG_LEVEL": "WARNING"}
    with (
        isolated_vhost("berth_bench") as broker_url,
        bench_platform(ROOT, extra, broker_url) as platform,
    ):
        platform.start_web("auth")
        platform.start_web("chat")
        port2 = free_port()
        second = platform._start(
            "chat-2",
            [
                str(BIN / "uvicorn"),
                "berth_chat.main:create_app",
                "--factory",
                "--host",
                "127.0.0.1",
                "--port",
                str(port2),
                "--no-access-log",
            ],
            f"http://127.0.0.1:{port2}/health",
        )
        keys = json.loads(platform.env["AUTH_JWT_PRIVATE_JWKS"])
        issuer = platform.env["BERTH_PUBLIC_URL"]

        def mint(subject: str, roles: list[str]) -> str:
            return mint_access_token(
                keys, issuer=issuer, subject=subject, roles=roles, lifetime=3600
            )

        staff = mint(str(uuid.uuid4()), ["user", "support"])
        pids = [platform.processes["chat"].pid, second.pid]
        database_url = platform.env["DATABASE_URL"]
        two = asyncio.run(
            run_load(
                (platform.ports["chat"], port2),
                pids,
                database_url,
                mint,
                staff,
                args.conversations,
                args.messages,
                args.rate,
                args.wait,
            )
        )
        one = asyncio.run(
            run_load(
                (platform.ports["chat"], platform.ports["chat"]),
                pids,
                database_url,
                mint,
                staff,
                args.conversations,
                args.messages,
                args.rate,
                args.wait,
            )
        )
    report("2 replicas (customer on A, support on B)", two)
    report("baseline: 1 replica (both on A)       ", one)


if __name__ == "__main__":
    sys.exit(main())
