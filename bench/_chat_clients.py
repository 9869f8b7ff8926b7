"""The chat bench's clients: one process's share of the WebSocket clients (bench/chat_fanout.py
starts several, so the clients are not the bottleneck of a 2-core machine).

Each process runs uvloop, opens its sockets, subscribes each to its conversations, says it is
ready, waits for the common start, sends its customers' messages at its share of the rate, and
reads every frame until each of its sockets got every message of its conversations (or the
wait ran out). Every `message` frame a socket receives is parsed and counted once per
(conversation, seq): a second one is a duplicate, reported and not counted. Latency: the send
time written in the body to the moment a socket read the frame.
"""

import asyncio
import contextlib
import gc
import json
import time
from dataclasses import dataclass, field
from multiprocessing.connection import Connection

import uvloop
import websockets

#: sockets opened at once by one process
OPEN_AT_ONCE = 50


@dataclass
class Plan:
    """One socket: where it connects, as whom, what it watches, whether it sends."""

    port: int
    token: str
    conversations: list[str]
    sends: bool = False


@dataclass
class Stats:
    delivered: int = 0
    duplicates: int = 0
    errors: int = 0
    last: float = 0.0
    latencies: list[float] = field(default_factory=list)
    closed: list[int | None] = field(default_factory=list)


class Socket:
    def __init__(self, ws, plan: Plan, stats: Stats):
        self.ws = ws
        self.plan = plan
        self.stats = stats
        self.seen: set[tuple[str, int]] = set()

    async def run(self) -> None:
        stats = self.stats
        try:
            async for raw in self.ws:
                frame = json.loads(raw)
                kind = frame["type"]
                if kind == "message":
                    now = time.time()
                    key = (frame["conversation_id"], frame["message"]["seq"])
                    if key in self.seen:
                        stats.duplicates += 1
                        continue
                    self.seen.add(key)
                    sent = float(frame["message"]["body"].split(" ", 1)[0])
                    stats.latencies.append(now - sent)
                    stats.delivered += 1
                    stats.last = now
                elif kind == "ping":
                    # the protocol's keepalive: a peer silent past ping interval + timeout
                    # (50 s) is closed 4408; watchers never send anything else
                    await self.ws.send('{"type":"pong"}')
                elif kind == "error":
                    stats.errors += 1
        except websockets.ConnectionClosed as exc:
            # a socket closed mid-run misses what came after: counted, so a shortfall is
            # never mistaken for a lost message
            stats.closed.append(exc.rcvd.code if exc.rcvd else None)


async def _open(plan: Plan, stats: Stats, deflate: bool) -> Socket:
    ws = await websockets.connect(
        f"ws://127.0.0.1:{plan.port}/api/chat/v1/ws",
        additional_headers={"Authorization": f"Bearer {plan.token}"},
        proxy=None,
        open_timeout=120,
        max_queue=None,
        compression="deflate" if deflate else None,
        # the protocol's own pings are answered (Socket.run); the library's would close a
        # socket 1011 whenever a saturated server answers late
        ping_interval=None,
    )
    assert json.loads(await ws.recv())["type"] == "hello"
    # one subscribe at a time per socket (a desk socket watches many conversations: all at
    # once queued thousands of replays for the database pool); a refused one is tried again
    for cid in plan.conversations:
        for attempt in range(5):
            await ws.send(json.dumps({"type": "subscribe", "conversation_id": cid}))
            frame = json.loads(await ws.recv())
            while frame["type"] not in {"subscribed", "error"}:
                frame = json.loads(await ws.recv())
            if frame["type"] == "subscribed":
                break
            if attempt == 4:
                raise RuntimeError(f"subscribe refused: {frame}")
            await asyncio.sleep(1.0)
    return Socket(ws, plan, stats)


async def _run(
    plans: list[Plan], messages: int, rate: float, wait: float, deflate: bool, pipe
) -> dict:
    stats = Stats()
    gate = asyncio.Semaphore(OPEN_AT_ONCE)

    readers = []

    async def opened(plan: Plan) -> Socket:
        async with gate:
            sock = await _open(plan, stats, deflate)
        # read (and answer the server's pings) from now on: a desk's setup can take longer
        # than the server's ping interval + timeout (50 s), and a silent socket is closed 4408
        readers.append(asyncio.create_task(sock.run()))
        return sock

    sockets = await asyncio.gather(*(opened(p) for p in plans))
    # no collector pauses in the client while it measures: a full collection over its sockets
    # and its counted frames, at the same point of every run, showed up as a server stall
    gc.collect()
    gc.freeze()
    gc.disable()
    pipe.send(("ready", len(sockets)))
    loop = asyncio.get_running_loop()
    start = await loop.run_in_executor(None, pipe.recv)
    senders = [s for s in sockets if s.plan.sends]
    interval = 1.0 / rate if rate > 0 else 0.0
    n = 0
    for round_ in range(messages):
        for sock in senders:
            delay = start + n * interval - time.time()
            if delay > 0:
                await asyncio.sleep(delay)
            frame = {
                "type": "send",
                "conversation_id": sock.plan.conversations[0],
                "client_msg_id": f"m{round_}",
                "body": f"{time.time():.6f} hello",
            }
            # a socket the server closed is counted by its reader (closed mid-run)
            with contextlib.suppress(websockets.ConnectionClosed):
                await sock.ws.send(json.dumps(frame))
                n += 1
    expected = messages * sum(len(s.plan.conversations) for s in sockets)
    deadline = time.time() + wait
    while stats.delivered < expected and time.time() < deadline:  # noqa: ASYNC110
        await asyncio.sleep(0.05)
    closed_mid_run = list(stats.closed)
    for sock in sockets:
        await sock.ws.close()
    for task in readers:
        task.cancel()
    return {
        "sent": n,
        "expected": expected,
        "delivered": stats.delivered,
        "duplicates": stats.duplicates,
        "errors": stats.errors,
        "last": stats.last,
        "latencies": stats.latencies,
        "closed": closed_mid_run,
    }


def worker(
    plans: list[Plan], messages: int, rate: float, wait: float, deflate: bool, pipe: Connection
) -> None:
    """A client process: `rate` is this process's share of the messages per second;
    `deflate`: offer permessage-deflate, as browsers do."""
    pipe.send(("done", uvloop.run(_run(plans, messages, rate, wait, deflate, pipe))))
