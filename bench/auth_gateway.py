"""Cost of the edge: an authenticated GET direct to the service, through Traefik without
auth, and through Traefik + gateway forwardAuth (route policy, token, revocation denylist,
rate limit), all measured in one run; then auth's `GET /me` (one uvicorn worker, access log
at INFO as deployed) with and without the platform's per-request middleware (bare_auth.py),
alternated; then refresh-grant throughput; then the gateway's decision alone, in-process,
without and with a large revocation denylist. Prints figures beside the previous ones (issue
14's); it never passes or fails on a timing.

    uv run python bench/auth_gateway.py [--seconds 10] [--connections 16]

Needs the machine's PostgreSQL and RabbitMQ (like the tests) and `wrk`
(`bash scripts/install-system-deps.sh --bench`, which `make bench` runs).
"""

import argparse
import asyncio
import json
import os
import shutil
import statistics
import sys
import time
import uuid
from pathlib import Path

import httpx

from berth_common.revocation import Denylist, Revocations
from berth_common.security import JWKSCache, TokenVerifier
from berth_gateway.policy import RoutePolicy
from berth_gateway.service import ForwardedRequest, Gatekeeper, VerifiedTokenCache
from berth_testing.bench import (
    BENCH_ADMIN_EMAIL,
    BENCH_ADMIN_PASSWORD,
    bench_platform,
    cpu_seconds,
    rss_mb,
    wrk,
)
from berth_testing.oauth import bearer, mint_access_token
from berth_testing.platform import BIN, Platform
from berth_testing.processes import free_port

ROOT = Path(__file__).resolve().parent.parent
HERE = Path(__file__).resolve().parent
#: issue 14's figures, taken before this bench's GET /me section existed (a quieter moment of
#: this machine; compare ratios, not absolute req/s, across runs)
BEFORE = {"forwardauth_ratio": "0.58-0.72x", "me": {"rps": 723, "p50": None, "p99": 108.0}}


def costed_wrk(url: str, pids: dict[str, int], **kwargs) -> dict[str, float]:
    """One wrk run plus the CPU microseconds each process in `pids` spent per request."""
    before = {name: cpu_seconds(pid) for name, pid in pids.items()}
    m = wrk(url, **kwargs)
    for name, pid in pids.items():
        m[f"cpu_us_{name}"] = (cpu_seconds(pid) - before[name]) / max(m["total"], 1) * 1e6
    return m


def start_me_servers(platform: Platform) -> dict[str, tuple[str, int]]:
    """Two auth processes at INFO (an access line per request, as deployed): the service as it
    is, and the same app without the platform's per-request middleware. name -> /me URL."""
    urls = {}
    for name, app in (
        ("with middleware", "berth_auth.main:create_app"),
        ("without middleware", "bare_auth:create_app"),
    ):
        port = free_port()
        slug = "auth-me-" + name.split()[0]
        cmd = [str(BIN / "uvicorn"), app, "--factory", "--app-dir", str(HERE)]
        cmd += ["--host", "127.0.0.1", "--port", str(port), "--no-access-log"]
        proc = platform._start(
            slug, cmd, f"http://127.0.0.1:{port}/health", env={"LOG_LEVEL": "INFO"}
        )
        urls[name] = (f"http://127.0.0.1:{port}/api/auth/v1/me", proc.pid)
    return urls


def me_with_and_without(
    urls: dict[str, tuple[str, int]], token: str, seconds: int, connections: int, rounds: int = 2
) -> dict[str, dict[str, float]]:
    """Alternated runs (A B A B) so a noisy neighbour hits both; the figures of all rounds."""
    runs: dict[str, list[dict[str, float]]] = {name: [] for name in urls}
    for url, _ in urls.values():
        wrk(url, seconds=2, connections=connections, headers=bearer(token))
    for _ in range(rounds):
        for name, (url, pid) in urls.items():
            runs[name].append(
                costed_wrk(
                    url,
                    {"auth": pid},
                    seconds=seconds,
                    connections=connections,
                    headers=bearer(token),
                )
            )
    merged = {}
    for name, ms in runs.items():
        merged[name] = {
            "rps": statistics.fmean(m["rps"] for m in ms),
            "p50": statistics.fmean(m["p50"] for m in ms),
            "p99": statistics.fmean(m["p99"] for m in ms),
            "cpu_us_auth": statistics.fmean(m["cpu_us_auth"] for m in ms),
            "total": sum(m["total"] for m in ms),
            "non2xx": sum(m["non2xx"] for m in ms),
        }
    return merged


def no_auth_route(platform: Platform) -> dict:
    """The auth service through Traefik without forwardAuth: the cost of Traefik alone."""
    return {
        "http": {
            "routers": {
                "bench-noauth": {
                    "entryPoints": ["web"],
                    "rule": platform.platform_rule("PathPrefix(`/bench-noauth/`)"),
                    "middlewares": ["bench-strip"],
                    "service": "auth",
                }
            },
            "middlewares": {"bench-strip": {"stripPrefix": {"prefixes": ["/bench-noauth"]}}},
        }
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
        "non2xx": failures,
        "total": len(latencies),
    }


def login(base: str) -> dict:
    r = httpx.post(
        f"{base}/oauth/token",
        data={
            "grant_type": "password",
            "username": BENCH_ADMIN_EMAIL,
            "password": BENCH_ADMIN_PASSWORD,
            "client_id": "berth-panel",
        },
        timeout=10,
    )
    r.raise_for_status()
    return r.json()


def big_denylist(entries_per_kind: int) -> Denylist:
    """A denylist far fuller than a real one (entries live for one token lifetime)."""
    until = int(time.time()) + 600
    denylist = Denylist()
    denylist.load(
        Revocations.model_validate(
            {
                "sessions": [{"id": f"s-{i}", "until": until} for i in range(entries_per_kind)],
                "clients": [{"id": f"c-{i}", "until": until} for i in range(entries_per_kind)],
                "users": [
                    {"id": f"u-{i}", "not_before": until - 600, "until": until}
                    for i in range(entries_per_kind)
                ],
            }
        )
    )
    return denylist


async def decision_cost(platform: Platform, calls: int, rounds: int = 5) -> dict[str, float]:
    """Microseconds per gateway decision in-process (cached token, no rate limit), best of
    `rounds` alternating runs: without a denylist, and with one of 3 x 10,000 entries."""
    signing = json.loads(platform.env["AUTH_JWT_PRIVATE_JWKS"])
    public = {"keys": [{k: v for k, v in key.items() if k != "d"} for key in signing["keys"]]}
    issuer = platform.env["BERTH_PUBLIC_URL"]
    token = mint_access_token(
        signing, issuer=issuer, subject=str(uuid.uuid4()), session_id=str(uuid.uuid4())
    )
    variants = {"no denylist": None, "denylist, 30,000 entries": big_denylist(10_000)}
    keepers = {}
    for name, denylist in variants.items():
        jwks = JWKSCache("http://unused.invalid/jwks.json")
        jwks.load(public)
        verifier = TokenVerifier(jwks, issuer=issuer, audience="berth", denylist=denylist)
        keepers[name] = Gatekeeper(RoutePolicy(), VerifiedTokenCache(verifier, 30, 10_000), None)
    request = ForwardedRequest("GET", "/api/auth/v1/me", "127.0.0.1", token)
    best = dict.fromkeys(variants, float("inf"))
    for _ in range(rounds):
        for name, keeper in keepers.items():
            await keeper.admit(request)  # warm: token cache, policy cache
            started = time.perf_counter()
            for _ in range(calls):
                await keeper.admit(request)
            best[name] = min(best[name], (time.perf_counter() - started) / calls * 1e6)
    return best


EDGE = ("auth", "gateway", "traefik")


def row(name: str, m: dict[str, float], base: dict[str, float] | None) -> str:
    ratio = f"{m['rps'] / base['rps']:.2f}x" if base else "1.00x"
    cpu = "".join(f" {m[f'cpu_us_{p}']:>7.0f}" for p in EDGE if f"cpu_us_{p}" in m)
    return (
        f"{name:<34} {m['rps']:>9.0f} {ratio:>7} {m['p50']:>8.2f} {m['p99']:>8.2f} "
        f"{m['total']:>8} {m['non2xx']:>6}{cpu}"
    )


def cpu_per_request(m: dict[str, float]) -> float:
    return sum(m[f"cpu_us_{p}"] for p in EDGE)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--refresh-sessions", type=int, default=8)
    args = parser.parse_args()
    if not shutil.which("wrk"):
        sys.exit("wrk is not installed: bash scripts/install-system-deps.sh --bench")

    # the refresh sessions all log in from this address
    with bench_platform(ROOT, {"AUTH_LOGIN_MAX_FAILURES_PER_IP": "1000000"}) as platform:
        auth = platform.start_web("auth")
        gateway = platform.start_web("gateway")
        traefik = platform.start_traefik(extra_dynamic={"bench.yml": no_auth_route(platform)})
        token = login(platform.public_url)["access_token"]
        path = "/api/auth/v1/me"
        targets = [
            ("direct to auth", f"{platform.url('auth')}{path}"),
            ("traefik, no forwardAuth", f"{platform.public_url}/bench-noauth{path}"),
            ("traefik + gateway forwardAuth", f"{platform.public_url}{path}"),
        ]
        for _, url in targets:  # warm up: JWKS caches, connection pools
            wrk(url, seconds=2, connections=args.connections, headers=bearer(token))
        pids = {"auth": auth.pid, "gateway": gateway.pid, "traefik": traefik.pid}
        results = [
            (
                name,
                costed_wrk(
                    url,
                    pids,
                    seconds=args.seconds,
                    connections=args.connections,
                    headers=bearer(token),
                ),
            )
            for name, url in targets
        ]
        me_urls = start_me_servers(platform)
        me = me_with_and_without(me_urls, token, args.seconds, args.connections)
        sessions = [
            login(platform.public_url)["refresh_token"] for _ in range(args.refresh_sessions)
        ]
        refresh = asyncio.run(refresh_throughput(platform.public_url, sessions, args.seconds))
        decision = asyncio.run(decision_cost(platform, calls=20_000))

        print(
            f"\nAuthenticated GET {path}: wrk -t1 -c{args.connections} -d{args.seconds}s on {os.cpu_count()} cores"
        )
        print(
            f"{'path':<34} {'req/s':>9} {'vs dir':>7} {'p50 ms':>8} {'p99 ms':>8} {'reqs':>8} "
            f"{'non2xx':>6}  CPU us/request: {' '.join(f'{p:>7}' for p in EDGE)}"
        )
        base = results[0][1]
        for name, m in results:
            print(row(name, m, None if m is base else base))
        ratio = results[2][1]["rps"] / base["rps"]
        cpu_ratio = cpu_per_request(base) / cpu_per_request(results[2][1])
        print(
            f"forwardAuth ratio (traefik + forwardAuth / direct): {ratio:.2f}x by req/s, "
            f"{cpu_ratio:.2f}x by CPU per request; before (issue 14): "
            f"{BEFORE['forwardauth_ratio']} by req/s"
        )
        print(
            f"\nauth GET {path}, one uvicorn worker, LOG_LEVEL=INFO, 2 x {args.seconds}s alternated:"
        )
        print(
            f"{'auth app':<34} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'p99/p50':>8} "
            f"{'CPU us/req':>10} {'non2xx':>6}"
        )
        for name, m in me.items():
            print(
                f"{name:<34} {m['rps']:>9.0f} {m['p50']:>8.2f} {m['p99']:>8.2f} "
                f"{m['p99'] / m['p50']:>7.1f}x {m['cpu_us_auth']:>10.0f} {m['non2xx']:>6}"
            )
        before = BEFORE["me"]
        print(
            f"{'before (issue 14, with middleware)':<34} {before['rps']:>9} {'-':>8} "
            f"{before['p99']:>8.2f}"
        )
        print(
            f"\nRefresh grant through Traefik ({args.refresh_sessions} rotating sessions, {args.seconds}s):"
        )
        print(row("refresh_token grant", refresh, None))
        plain = decision["no denylist"]
        print("\nThe gateway's decision in-process (cached token, no rate limit), best of 5:")
        for name, micros in decision.items():
            print(f"{name:<34} {micros:>8.2f} us/decision {micros / plain:>6.2f}x")
        print(
            f"\nRSS after load: auth {rss_mb(auth.pid):.0f} MiB, gateway {rss_mb(gateway.pid):.0f} MiB, traefik {rss_mb(traefik.pid):.0f} MiB"
        )
        print(
            json.dumps(
                {"get": dict(results), "me": me, "refresh": refresh, "decision_us": decision},
                indent=None,
            )
        )


if __name__ == "__main__":
    main()
