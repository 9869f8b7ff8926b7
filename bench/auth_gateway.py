"""Cost of the edge and of a lean request, the previous code beside this code in one run.

1. An authenticated GET direct to auth, through Traefik without auth, through Traefik +
   forwardAuth to Traefik's own /ping (the hop's floor: what forwardAuth costs with a
   responder that does no work, in Go, in Traefik's own process) and through Traefik + gateway
   forwardAuth (route policy, token, revocation denylist, rate limit), with the connections
   Traefik opened to the gateway instead of reusing one. Rounds alternate the four paths
   (A B C D A B C D ...), so a noisy neighbour hits all alike; ratios are per round.
2. The gateway's /verify alone, called as Traefik calls it: the previous code and this code.
3. auth's `GET /me`, one uvicorn worker, access log at INFO as deployed, with and without the
   platform's per-request middleware (_bare_auth.py): the previous code and this code, runs
   alternated so a noisy neighbour hits all alike.
4. Refresh-grant throughput; the gateway's decision alone, in-process, without and with a large
   revocation denylist.

The previous code is `--previous` (default: the parent of the newest commit that changed
libs/common, services/auth or services/gateway) taken with git archive and run from the same
virtualenv (PYTHONPATH); its figures are printed beside this code's. It never passes or fails
on a timing.

    uv run python bench/auth_gateway.py [--seconds 10] [--connections 16] [--edge-rounds 3]
                                        [--previous REF]

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
from pathlib import Path

import httpx
from _edge_paths import (
    EDGE_PATHS,
    ME_PATH,
    costed_wrk,
    edge,
    edge_routes,
    merge_rounds,
    round_ratios,
)
from _gateway_decision import decision_cost

from berth_testing.bench import (
    BENCH_ADMIN_EMAIL,
    BENCH_ADMIN_PASSWORD,
    bench_platform,
    describe_ref,
    previous_code,
    previous_ref,
    rss_mb,
    wrk,
)
from berth_testing.oauth import bearer
from berth_testing.platform import BIN, Platform
from berth_testing.processes import free_port

ROOT = Path(__file__).resolve().parent.parent
HERE = Path(__file__).resolve().parent
#: issue 14's figures (a quieter moment of this machine; compare ratios, not absolute req/s)
ISSUE = {"forwardauth_ratio": "0.58-0.72x", "me": {"rps": 723, "p99": 108.0}}
PREVIOUS_PATHS = ["libs/common", "services/auth", "services/gateway"]


def start_app(
    platform: Platform, slug: str, app: str, code: Path | None, ready: str = "/health"
) -> tuple[str, int]:
    """One uvicorn worker of `app` (LOG_LEVEL=INFO: an access line per request, as deployed),
    from `code` (the previous code's tree) or this checkout; (its base URL, its pid)."""
    port = free_port()
    cmd = [str(BIN / "uvicorn"), app, "--factory", "--app-dir", str(HERE)]
    cmd += ["--host", "127.0.0.1", "--port", str(port), "--no-access-log"]
    env = {"LOG_LEVEL": "INFO"}
    if code is not None:
        env["PYTHONPATH"] = os.pathsep.join(str(code / path) for path in PREVIOUS_PATHS)
    base = f"http://127.0.0.1:{port}"
    proc = platform._start(slug, cmd, f"{base}{ready}", env=env)
    return base, proc.pid


def alternated(
    targets: dict[str, tuple[str, int]],
    headers: dict[str, str],
    seconds: int,
    connections: int,
    rounds: int = 2,
) -> dict[str, dict[str, float]]:
    """Runs alternated (A B C A B C) so a noisy neighbour hits all; each target's figures
    averaged over its rounds. targets: name -> (url, pid)."""
    runs: dict[str, list[dict[str, float]]] = {name: [] for name in targets}
    for url, _ in targets.values():
        wrk(url, seconds=2, connections=connections, headers=headers)
    for _ in range(rounds):
        for name, (url, pid) in targets.items():
            runs[name].append(
                costed_wrk(
                    url, {"app": pid}, seconds=seconds, connections=connections, headers=headers
                )
            )
    return merge_rounds(runs)


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


def side_by_side(title: str, figures: dict[str, dict[str, float]], pairs: list[tuple]) -> None:
    """Each figure of this code beside the previous code's, with the ratio."""
    print(f"\n{title}")
    print(
        f"{'':<22} {'req/s prev':>10} {'now':>7} {'x':>6} {'p50 prev':>9} {'now':>7} "
        f"{'p99 prev':>9} {'now':>7} {'p99/p50':>7} {'CPU us prev':>11} {'now':>6} {'non2xx':>6}"
    )
    for label, previous, current in pairs:
        a, b = figures[previous], figures[current]
        print(
            f"{label:<22} {a['rps']:>10.0f} {b['rps']:>7.0f} {b['rps'] / a['rps']:>5.2f}x "
            f"{a['p50']:>9.2f} {b['p50']:>7.2f} {a['p99']:>9.2f} {b['p99']:>7.2f} "
            f"{b['p99'] / b['p50']:>6.1f}x {a['cpu_us_app']:>11.0f} {b['cpu_us_app']:>6.0f} "
            f"{a['non2xx'] + b['non2xx']:>6}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--edge-rounds", type=int, default=3)
    parser.add_argument("--refresh-sessions", type=int, default=8)
    parser.add_argument("--previous", default=None, help="git ref of the baseline code")
    args = parser.parse_args()
    args.previous = args.previous or previous_ref(ROOT, PREVIOUS_PATHS)
    print(f"previous = {args.previous} ({describe_ref(ROOT, args.previous)})")
    if not shutil.which("wrk"):
        sys.exit("wrk is not installed: bash scripts/install-system-deps.sh --bench")

    # the refresh sessions all log in from this address
    with (
        previous_code(ROOT, args.previous, PREVIOUS_PATHS) as previous,
        bench_platform(ROOT, {"AUTH_LOGIN_MAX_FAILURES_PER_IP": "1000000"}) as platform,
    ):
        auth = platform.start_web("auth")
        gateway = platform.start_web("gateway")
        traefik = platform.start_traefik(extra_dynamic={"bench.yml": edge_routes(platform)})
        token = login(platform.public_url)["access_token"]
        pids = {"auth": auth.pid, "gateway": gateway.pid, "traefik": traefik.pid}
        results = edge(platform, token, pids, args)

        gateways = {
            "previous": start_app(
                platform, "gateway-previous", "berth_gateway.main:create_app", previous, "/ready"
            ),
            "now": (platform.url("gateway"), gateway.pid),
        }
        as_traefik = {
            **bearer(token),
            "X-Forwarded-Method": "GET",
            "X-Forwarded-Uri": ME_PATH,
            "X-Forwarded-For": "127.0.0.1",
            "X-Forwarded-Proto": "http",
            "X-Forwarded-Host": platform.platform_host,
        }
        verify = alternated(
            {name: (f"{base}/verify", pid) for name, (base, pid) in gateways.items()},
            as_traefik,
            args.seconds,
            args.connections,
        )
        me_apps = {
            "previous, with": ("berth_auth.main:create_app", previous),
            "previous, without": ("_bare_auth:create_app", previous),
            "now, with": ("berth_auth.main:create_app", None),
            "now, without": ("_bare_auth:create_app", None),
        }
        me_targets = {}
        for name, (app, code) in me_apps.items():
            slug = "auth-me-" + name.replace(", ", "-")
            base, pid = start_app(platform, slug, app, code)
            me_targets[name] = (f"{base}{ME_PATH}", pid)
        me = alternated(me_targets, bearer(token), args.seconds, args.connections)

        sessions = [
            login(platform.public_url)["refresh_token"] for _ in range(args.refresh_sessions)
        ]
        refresh = asyncio.run(refresh_throughput(platform.public_url, sessions, args.seconds))
        decision = asyncio.run(decision_cost(platform, calls=20_000))

        print(
            f"\nAuthenticated GET {ME_PATH} (this code): wrk -t1 -c{args.connections} "
            f"-d{args.seconds}s x {args.edge_rounds} alternated rounds on {os.cpu_count()} cores"
        )
        print(
            f"{'path':<34} {'req/s':>9} {'vs dir':>7} {'p50 ms':>8} {'p99 ms':>8} {'reqs':>8} "
            f"{'non2xx':>6}  CPU us/request: {' '.join(f'{p:>7}' for p in EDGE)}"
        )
        base = results["direct to auth"]
        for name, m in results.items():
            print(row(name, m, None if m is base else base))
        forward, floor = results["traefik + gateway forwardAuth"], results[EDGE_PATHS[2][0]]
        print(
            f"forwardAuth ratio (traefik + gateway forwardAuth / direct): "
            f"{round_ratios(results, 'traefik + gateway forwardAuth')} by req/s, "
            f"{cpu_per_request(base) / cpu_per_request(forward):.2f}x by CPU per request; "
            f"issue 14: {ISSUE['forwardauth_ratio']} by req/s, goal >= 0.8x"
        )
        print(
            f"the hop's floor (forwardAuth to Traefik's own /ping / direct): "
            f"{round_ratios(results, EDGE_PATHS[2][0])} by req/s, "
            f"{cpu_per_request(base) / cpu_per_request(floor):.2f}x by CPU per request. Gateway "
            f"connections Traefik closed: {forward['gateway_conns_per_100']:.1f} per 100 requests"
        )
        side_by_side(
            f"The gateway's /verify alone, as Traefik calls it ({args.previous} = prev):",
            verify,
            [("GET /verify", "previous", "now")],
        )
        side_by_side(
            f"auth GET {ME_PATH}, one uvicorn worker, LOG_LEVEL=INFO, 2 x {args.seconds}s "
            f"alternated ({args.previous} = prev):",
            me,
            [
                ("with middleware", "previous, with", "now, with"),
                ("without middleware", "previous, without", "now, without"),
            ],
        )
        print(
            f"issue 14 (with middleware, a quieter machine): {ISSUE['me']['rps']} req/s, "
            f"p99 {ISSUE['me']['p99']} ms; goals: req/s >= 2x the previous, p99 <= 2x p50"
        )
        print(
            f"\nRefresh grant through Traefik ({args.refresh_sessions} rotating sessions, "
            f"{args.seconds}s):"
        )
        print(row("refresh_token grant", refresh, None))
        plain = decision["no denylist"]
        print("\nThe gateway's decision in-process (cached token, no rate limit), best of 5:")
        for name, micros in decision.items():
            print(f"{name:<34} {micros:>8.2f} us/decision {micros / plain:>6.2f}x")
        print(
            f"\nRSS after load: auth {rss_mb(auth.pid):.0f} MiB, gateway "
            f"{rss_mb(gateway.pid):.0f} MiB, traefik {rss_mb(traefik.pid):.0f} MiB"
        )
        print(
            json.dumps(
                {
                    "get": results,
                    "verify": verify,
                    "me": me,
                    "refresh": refresh,
                    "decision_us": decision,
                }
            )
        )


if __name__ == "__main__":
    main()
