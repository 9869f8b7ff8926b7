"""Cost of the edge: an authenticated GET direct to the service, through Traefik without
auth, and through Traefik + gateway forwardAuth, all measured in one run; then refresh-grant
throughput. Prints figures; it never passes or fails on a timing.

    uv run python bench/auth_gateway.py [--seconds 10] [--connections 16]

Needs the machine's PostgreSQL and RabbitMQ (like the tests) and `wrk` (apt-get install wrk).
"""

import argparse
import asyncio
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import psutil

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from berth_common.testing.platform import Platform  # noqa: E402
from berth_common.testing.plugin import (  # noqa: E402
    PORT_NAMES,
    create_migrated_database,
    drop_database,
    make_signing_jwks,
    service_env,
)
from berth_common.testing.processes import free_port  # noqa: E402

ADMIN_EMAIL = "bench-admin@berth.localhost"
ADMIN_PASSWORD = "bench-password-0123456789"

NO_AUTH_ROUTE = {
    "http": {
        "routers": {
            "bench-noauth": {
                "entryPoints": ["web"],
                "rule": "PathPrefix(`/bench-noauth/`)",
                "middlewares": ["bench-strip"],
                "service": "auth",
            }
        },
        "middlewares": {"bench-strip": {"stripPrefix": {"prefixes": ["/bench-noauth"]}}},
    }
}


def wrk(url: str, token: str, seconds: int, connections: int) -> dict[str, float]:
    out = subprocess.run(
        [
            "wrk",
            "-t1",
            f"-c{connections}",
            f"-d{seconds}s",
            "--latency",
            "-H",
            f"Authorization: Bearer {token}",
            url,
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))

    def pct(p: str) -> float:
        m = re.search(rf"\s{p}%\s+([\d.]+)(us|ms|s)\b", out)
        value, unit = float(m.group(1)), m.group(2)
        return value / 1000 if unit == "us" else value * 1000 if unit == "s" else value

    non2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    total = int(re.search(r"(\d+) requests in", out).group(1))
    return {
        "rps": rps,
        "p50": pct("50"),
        "p99": pct("99"),
        "errors": int(non2xx.group(1)) if non2xx else 0,
        "total": total,
    }


async def refresh_throughput(
    base: str, refresh_tokens: list[str], seconds: float
) -> dict[str, float]:
    latencies: list[float] = []
    failures = 0
    deadline = time.perf_counter() + seconds

    async def chain(client: httpx.AsyncClient, token: str) -> None:
        nonlocal failures
        while time.perf_counter() < deadline:
            start = time.perf_counter()
            r = await client.post(
                f"{base}/oauth/token",
                data={
                    "grant_type": "refresh_token",
                    "refresh_token": token,
                    "client_id": "berth-panel",
                },
            )
            latencies.append((time.perf_counter() - start) * 1000)
            if r.status_code != 200:
                failures += 1
                return
            token = r.json()["refresh_token"]

    limits = httpx.Limits(max_connections=len(refresh_tokens))
    async with httpx.AsyncClient(limits=limits, timeout=10) as client:
        t0 = time.perf_counter()
        await asyncio.gather(*(chain(client, t) for t in refresh_tokens))
        elapsed = time.perf_counter() - t0
    q = statistics.quantiles(latencies, n=100)
    return {
        "rps": len(latencies) / elapsed,
        "p50": q[49],
        "p99": q[98],
        "errors": failures,
        "total": len(latencies),
    }


def login(base: str) -> dict:
    r = httpx.post(
        f"{base}/oauth/token",
        data={
            "grant_type": "password",
            "username": ADMIN_EMAIL,
            "password": ADMIN_PASSWORD,
            "client_id": "berth-panel",
        },
        timeout=10,
    )
    r.raise_for_status()
    return r.json()


def rss_mb(proc) -> float:
    p = psutil.Process(proc.pid)
    return sum(c.memory_info().rss for c in [p, *p.children(recursive=True)]) / 2**20


def row(name: str, m: dict[str, float], base: dict[str, float] | None) -> str:
    ratio = f"{m['rps'] / base['rps']:.2f}x" if base else "1.00x"
    return (
        f"{name:<34} {m['rps']:>9.0f} {ratio:>7} {m['p50']:>8.2f} {m['p99']:>8.2f} "
        f"{m['total']:>8} {m['errors']:>6}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--refresh-sessions", type=int, default=8)
    args = parser.parse_args()
    if not shutil.which("wrk"):
        sys.exit("wrk is not installed: apt-get install -y wrk")

    work = Path(tempfile.mkdtemp(prefix="berth-bench-"))
    ports = {name: free_port() for name in PORT_NAMES}
    database_url = create_migrated_database(ROOT, prefix="berth_bench")
    env = service_env(
        database_url=database_url,
        broker_url=os.environ.get("TEST_BROKER_URL", "amqp://guest:guest@127.0.0.1:5672/"),
        signing_jwks=make_signing_jwks(),
        ports=ports,
        var=work,
    )
    env.update(
        {
            "AUTH_BOOTSTRAP_ADMIN_EMAIL": ADMIN_EMAIL,
            "AUTH_BOOTSTRAP_ADMIN_PASSWORD": ADMIN_PASSWORD,
            "LOG_LEVEL": "WARNING",
            # the bench measures the edge, not the limiter's refusals
            "GATEWAY_RATE_LIMIT_AUTHENTICATED": "100000000/minute",
            "GATEWAY_RATE_LIMIT_ANONYMOUS": "100000000/minute",
            "AUTH_LOGIN_MAX_FAILURES_PER_IP": "1000000",
        }
    )
    platform = Platform(ROOT, {**os.environ, **env}, ports, work)
    try:
        subprocess.run(
            [sys.executable, "-m", "berth_auth.cli", "bootstrap"],
            env=platform.env,
            check=True,
            cwd=ROOT,
        )
        auth = platform.start_web("auth")
        gateway = platform.start_web("gateway")
        traefik = platform.start_traefik(extra_dynamic={"bench.yml": NO_AUTH_ROUTE})
        token = login(platform.public_url)["access_token"]
        path = "/api/auth/v1/me"
        targets = [
            ("direct to auth", f"{platform.url('auth')}{path}"),
            ("traefik, no forwardAuth", f"{platform.public_url}/bench-noauth{path}"),
            ("traefik + gateway forwardAuth", f"{platform.public_url}{path}"),
        ]
        for _, url in targets:  # warm up: JWKS caches, connection pools
            wrk(url, token, 2, args.connections)
        results = [(name, wrk(url, token, args.seconds, args.connections)) for name, url in targets]
        sessions = [
            login(platform.public_url)["refresh_token"] for _ in range(args.refresh_sessions)
        ]
        refresh = asyncio.run(refresh_throughput(platform.public_url, sessions, args.seconds))

        print(
            f"\nAuthenticated GET {path}: wrk -t1 -c{args.connections} -d{args.seconds}s on {os.cpu_count()} cores"
        )
        print(
            f"{'path':<34} {'req/s':>9} {'vs dir':>7} {'p50 ms':>8} {'p99 ms':>8} {'reqs':>8} {'non2xx':>6}"
        )
        base = results[0][1]
        for name, m in results:
            print(row(name, m, None if m is base else base))
        print(
            f"\nRefresh grant through Traefik ({args.refresh_sessions} rotating sessions, {args.seconds}s):"
        )
        print(row("refresh_token grant", refresh, None))
        print(
            f"\nRSS after load: auth {rss_mb(auth):.0f} MiB, gateway {rss_mb(gateway):.0f} MiB, traefik {rss_mb(traefik):.0f} MiB"
        )
        print(json.dumps({"get": dict(results), "refresh": refresh}, indent=None))
    finally:
        platform.stop()
        drop_database(database_url)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
