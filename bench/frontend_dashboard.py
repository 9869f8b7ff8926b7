"""The dashboard page through Traefik (gateway forwardAuth, then the frontend, which calls auth,
billing and deploy in parallel) at a steady request rate, against each service call it makes,
direct to the service at the same rate, in one run. Prints figures; never passes or fails.

    uv run python bench/frontend_dashboard.py [--rate 20] [--seconds 15]

Latency is measured from each request's scheduled start (an open loop: a slow answer does
not slow the schedule down, so queueing shows in the figures). Needs the machine's
PostgreSQL and RabbitMQ, like the tests.
"""

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from berth_testing.bench import (  # noqa: E402
    BENCH_ADMIN_EMAIL,
    BENCH_ADMIN_PASSWORD,
    bench_platform,
    rss_mb,
)
from berth_testing.platform import Platform  # noqa: E402

APPS = 12


async def steady(
    client: httpx.AsyncClient, url: str, headers: dict, rate: float, seconds: float
) -> dict:
    """`rate` requests a second for `seconds`, each timed from its scheduled start."""
    latencies: list[float] = []
    failures = 0
    count = int(rate * seconds)
    t0 = time.perf_counter() + 0.05

    async def one(i: int) -> None:
        nonlocal failures
        scheduled = t0 + i / rate
        await asyncio.sleep(max(0.0, scheduled - time.perf_counter()))
        response = await client.get(url, headers=headers)
        latencies.append((time.perf_counter() - scheduled) * 1000)
        if response.status_code != 200:
            failures += 1

    await asyncio.gather(*(one(i) for i in range(count)))
    q = statistics.quantiles(latencies, n=100)
    return {"n": count, "p50": q[49], "p95": q[94], "max": max(latencies), "errors": failures}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rate", type=float, default=20.0, help="requests per second")
    parser.add_argument("--seconds", type=float, default=15.0)
    args = parser.parse_args()

    with bench_platform(ROOT, {"DEPLOY_LOCAL_REPOS_DIR": tempfile.gettempdir()}) as platform:
        procs = {svc: platform.start_web(svc) for svc in ("auth", "gateway", "billing", "deploy")}
        procs["frontend"] = platform.start_web("frontend")
        procs["traefik"] = platform.start_traefik()
        asyncio.run(measure(platform, args, procs))


async def measure(platform: Platform, args, procs) -> None:
    edge = platform.public_url
    async with httpx.AsyncClient(timeout=30) as client:
        r = await client.post(
            f"{edge}/oauth/token",
            data={
                "grant_type": "password",
                "username": BENCH_ADMIN_EMAIL,
                "password": BENCH_ADMIN_PASSWORD,
                "client_id": "berth-panel",
            },
        )
        r.raise_for_status()
        token = r.json()["access_token"]
        bearer = {"Authorization": f"Bearer {token}"}
        for i in range(APPS):  # something for the apps card to count
            created = await client.post(
                f"{platform.url('deploy')}/api/deploy/v1/apps",
                json={"slug": f"bench-{i:03d}", "template": "n8n"},
                headers=bearer,
            )
            created.raise_for_status()
        calls = {
            "auth /me": f"{platform.url('auth')}/api/auth/v1/me",
            "auth /me/login-history": f"{platform.url('auth')}/api/auth/v1/me/login-history?size=5",
            "billing /account": f"{platform.url('billing')}/api/billing/v1/account",
            "deploy /apps (recent)": f"{platform.url('deploy')}/api/deploy/v1/apps?size=5&sort=-updated_at",
            "deploy /apps (running)": f"{platform.url('deploy')}/api/deploy/v1/apps?size=1&status=running",
        }
        page = f"{edge}/panel"
        cookie = {"Cookie": f"berth_access={token}"}
        check = await client.get(page, headers=cookie)
        assert check.status_code == 200 and "unavailable" not in check.text, check.text[:500]
        # warm up every path (JWKS caches, connection pools)
        for url in calls.values():
            await steady(client, url, bearer, args.rate, 2)
        await steady(client, page, cookie, args.rate, 2)

        results = {
            name: await steady(client, url, bearer, args.rate, args.seconds)
            for name, url in calls.items()
        }
        direct = f"{platform.url('frontend')}/panel"
        results["GET /panel direct"] = await steady(client, direct, cookie, args.rate, args.seconds)
        results["GET /panel via Traefik"] = await steady(
            client, page, cookie, args.rate, args.seconds
        )

    print(
        f"\nSteady {args.rate:g} req/s for {args.seconds:g}s per row, {os.cpu_count()} cores; "
        "latency from the scheduled start (ms)"
    )
    print(f"{'request':<28} {'n':>5} {'p50':>8} {'p95':>8} {'max':>8} {'errors':>7}")
    for name, m in results.items():
        print(
            f"{name:<28} {m['n']:>5} {m['p50']:>8.2f} {m['p95']:>8.2f} {m['max']:>8.2f} {m['errors']:>7}"
        )
    full_page_calls = [k for k in results if not k.startswith("GET /panel")]
    slowest = max(full_page_calls, key=lambda k: results[k]["p50"])
    dash = results["GET /panel via Traefik"]
    print(
        f"\nThe dashboard makes {len(calls)} service calls in parallel; the slowest alone is "
        f"'{slowest}' (p50 {results[slowest]['p50']:.2f} ms, p95 {results[slowest]['p95']:.2f} ms)."
    )
    print(
        f"Dashboard p50 {dash['p50']:.2f} ms = {dash['p50'] / results[slowest]['p50']:.1f}x the "
        f"slowest call; p95 {dash['p95']:.2f} ms = {dash['p95'] / results[slowest]['p95']:.1f}x."
    )
    serial = sum(results[k]["p50"] for k in full_page_calls)
    print(f"The calls one after another would take about {serial:.2f} ms at p50.")
    at_edge = dash["p50"] - results["GET /panel direct"]["p50"]
    print(f"Traefik + gateway forwardAuth add about {at_edge:.2f} ms at p50 (direct vs Traefik).")
    print(
        "RSS after load (MiB): "
        + ", ".join(f"{svc} {rss_mb(p.pid):.0f}" for svc, p in procs.items())
    )


if __name__ == "__main__":
    main()
