"""The VPS console's keystroke round trip, measured on real processes (Traefik, gateway,
auth, deploy web + worker + supervisor) and a real VPS (KVM where /dev/kvm works, else the
container fallback): one key sent over the console WebSocket through Traefik until the guest's
tty echoes it back, many times; and a console's first screen (token -> hello -> replayed tail).
Beside each figure, its peer measured in the same run: the same keys sent to a plain WebSocket
echo server through the same Traefik (no gateway, no VPS), and a socket opened to it until the
first echo: what the console path adds on top of the edge.

    uv run python bench/vps_console.py [--keys 300] [--images-dir var/vps-images]

Needs the machine's PostgreSQL and RabbitMQ (like the tests) and what the driver needs (QEMU,
debootstrap: scripts/install-system-deps.sh --vps). The image cache outlives the run
(--images-dir), so only the very first run pays for debootstrap. Prints figures; it never
passes or fails on a timing.
"""

import argparse
import json
import os
import statistics
import threading
import time
import uuid
from pathlib import Path

import httpx
from websockets.exceptions import InvalidHandshake
from websockets.sync.client import ClientConnection, connect
from websockets.sync.server import ServerConnection, serve

ROOT = Path(__file__).resolve().parent.parent

from _deploy_platform import DeployBench, deploy_platform  # noqa: E402 (bench/, next to this)

from berth_testing.bench import print_beside, rss_mb  # noqa: E402
from berth_testing.processes import free_port  # noqa: E402

VPS = "/api/deploy/v1/vps"
KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIG2T9ZL0hQfGQWJxv9U4W4rYx8Y8jQ5cU9l2k1y0j5Fv bench"


def until(check, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = check()
        if result:
            return result
        time.sleep(0.2)
    raise SystemExit(f"{what}: not within {timeout:.0f}s")


def open_console(platform, edge: httpx.Client, auth: dict, vps_id: str) -> ClientConnection:
    minted = edge.post(f"{VPS}/{vps_id}/console-tokens", headers=auth)
    if minted.status_code != 201:
        raise SystemExit(f"no console token: {minted.status_code} {minted.text}")
    base = platform.public_url.replace("http://", "ws://", 1).rstrip("/")
    return connect(
        f"{base}{VPS}/{vps_id}/console?token={minted.json()['token']}",
        additional_headers={**auth, "Origin": platform.public_url.rstrip("/")},
        proxy=None,
        open_timeout=15,
        max_size=2**22,
    )


def read_until(ws: ClientConnection, needle: bytes, timeout: float) -> bytes:
    seen, deadline = b"", time.monotonic() + timeout
    while needle not in seen:
        left = deadline - time.monotonic()
        if left <= 0:
            raise SystemExit(f"{needle!r} never came back: {seen[-200:]!r}")
        frame = ws.recv(timeout=left)
        if isinstance(frame, bytes):
            seen += frame
    return seen


def echo(ws: ServerConnection) -> None:
    for message in ws:
        ws.send(message)


def echo_peer(platform, keys: int, opens: int) -> tuple[list[float], list[float]]:
    """The peer of the console's figures: `keys` one-byte round trips, then `opens` sockets
    opened until their first echo, against a plain WebSocket echo through the same Traefik
    (a route added to its watched file provider)."""
    port = free_port()
    with serve(echo, "127.0.0.1", port) as server:
        threading.Thread(target=server.serve_forever, daemon=True).start()
        route = {
            "http": {
                "routers": {
                    "bench-echo": {
                        "entryPoints": ["web"],
                        "rule": platform.platform_rule("PathPrefix(`/bench-echo`)"),
                        "service": "bench-echo",
                    }
                },
                "services": {
                    "bench-echo": {
                        "loadBalancer": {"servers": [{"url": f"http://127.0.0.1:{port}"}]}
                    }
                },
            }
        }
        (platform.dynamic_dir / "bench-echo.yml").write_text(json.dumps(route))
        url = platform.public_url.replace("http://", "ws://", 1).rstrip("/") + "/bench-echo"

        def dial() -> ClientConnection | None:
            try:
                return connect(url, proxy=None, open_timeout=5)
            except (OSError, InvalidHandshake):  # Traefik answers 404 until it loads the route
                return None

        rtt: list[float] = []
        with until(dial, 30, "the echo route") as ws:
            for i in range(keys):
                key = b"abcdefghijklmnopqrstuvwxyz"[i % 26 : i % 26 + 1]
                start = time.perf_counter()
                ws.send(key)
                read_until(ws, key, 10)
                rtt.append((time.perf_counter() - start) * 1000)
        opened: list[float] = []
        for _ in range(opens):
            start = time.perf_counter()
            with connect(url, proxy=None, open_timeout=10) as ws:
                ws.send(b"x")
                read_until(ws, b"x", 10)
                opened.append((time.perf_counter() - start) * 1000)
        server.shutdown()
    return rtt, opened


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--keys", type=int, default=300)
    parser.add_argument("--opens", type=int, default=10)
    parser.add_argument("--images-dir", type=Path, default=ROOT / "var" / "vps-images")
    args = parser.parse_args()
    args.images_dir.mkdir(parents=True, exist_ok=True)
    extra = {"DEPLOY_VPS_IMAGES_DIR": str(args.images_dir.resolve())}
    with deploy_platform(extra, worker_concurrency=1) as bench:
        measure(args, bench)


def measure(args: argparse.Namespace, bench: DeployBench) -> None:
    platform, edge, auth = bench.platform, bench.edge, bench.auth
    name = f"bench-{uuid.uuid4().hex[:6]}"
    r = edge.post(VPS, json={"name": name, "plan": "vps-1", "ssh_public_key": KEY}, headers=auth)
    if r.status_code != 202:
        raise SystemExit(f"order refused: {r.status_code} {r.text}")
    vps_id = r.json()["vps"]["id"]
    try:

        def running():
            seen = edge.get(f"{VPS}/{vps_id}", headers=auth).json()
            if seen["status"] == "failed":
                raise SystemExit(f"the VPS failed: {seen['status_reason']}")
            return seen if seen["status"] == "running" else None

        kind = until(running, 3600, "the VPS running")["kind"]
        rtt: list[float] = []
        with open_console(platform, edge, auth, vps_id) as ws:
            deadline = time.monotonic() + 600
            while True:  # the serial getty logs root in once the guest has booted
                ws.send(b"\r")
                try:
                    read_until(ws, b":~#", 3)
                    break
                except SystemExit:
                    if time.monotonic() > deadline:
                        raise
            for i in range(args.keys):
                key = b"abcdefghijklmnopqrstuvwxyz"[i % 26 : i % 26 + 1]
                start = time.perf_counter()
                ws.send(key)
                read_until(ws, key, 10)
                rtt.append((time.perf_counter() - start) * 1000)
                if i % 60 == 59:
                    ws.send(b"\x15")  # ^U: the line starts again
                    time.sleep(0.05)
        opens: list[float] = []
        for _ in range(args.opens):
            start = time.perf_counter()
            with open_console(platform, edge, auth, vps_id) as ws:
                while not isinstance(ws.recv(timeout=10), bytes):
                    pass  # the hello, then the first bytes of the replayed screen
                opens.append((time.perf_counter() - start) * 1000)
    finally:
        edge.delete(f"{VPS}/{vps_id}", headers=auth)

    peer_rtt, peer_opens = echo_peer(platform, args.keys, args.opens)

    def q(prefix: str, values: list[float]) -> dict[str, float]:
        cuts = statistics.quantiles(values, n=100, method="inclusive")
        return {
            f"{prefix}: p50 ms": statistics.median(values),
            f"{prefix}: p90 ms": cuts[89],
            f"{prefix}: p99 ms": cuts[98],
            f"{prefix}: max ms": max(values),
        }

    keystroke = f"keystroke -> echo, {len(rtt)} keys"
    first = f"open -> first bytes, {len(opens)} opens"
    print_beside(
        f"VPS console ({kind}) through Traefik and the gateway, {os.cpu_count()} cores, load "
        f"average {' '.join(f'{x:.2f}' for x in os.getloadavg())}; beside each figure the same "
        "against a plain WebSocket echo through the same Traefik, this run",
        {**q(keystroke, rtt), **q(first, opens)},
        {**q(keystroke, peer_rtt), **q(first, peer_opens)},
        base_label="plain echo",
    )
    print(f"RSS: deploy web {rss_mb(bench.web.pid):.0f} MiB")
    print(
        json.dumps(
            {"keystroke_rtt_ms": rtt, "open_ms": opens, "kind": kind, "peer_rtt_ms": peer_rtt}
        )
    )


if __name__ == "__main__":
    main()
