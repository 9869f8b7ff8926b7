"""The four paths of an authenticated GET that bench/auth_gateway.py compares (direct, Traefik
alone, the forwardAuth hop to Traefik's own /ping, the gateway's forwardAuth), run in
alternated rounds with the CPU each process spent per request: a helper of that bench, which
prints them."""

import statistics

from berth_testing.bench import closed_connections, cpu_seconds, wrk
from berth_testing.oauth import bearer
from berth_testing.platform import Platform

ME_PATH = "/api/auth/v1/me"


def costed_wrk(url: str, pids: dict[str, int], **kwargs) -> dict[str, float]:
    """One wrk run plus the CPU microseconds each process in `pids` spent per request."""
    before = {name: cpu_seconds(pid) for name, pid in pids.items()}
    m = wrk(url, **kwargs)
    for name, pid in pids.items():
        m[f"cpu_us_{name}"] = (cpu_seconds(pid) - before[name]) / max(m["total"], 1) * 1e6
    return m


def edge_routes(platform: Platform) -> dict:
    """The auth service through Traefik without forwardAuth (the cost of Traefik alone), and
    through a forwardAuth whose address is Traefik's own /ping (the cost of the hop alone)."""
    ping = f"http://127.0.0.1:{platform.ports['traefik_api']}/ping"
    return {
        "http": {
            "routers": {
                "bench-noauth": {
                    "entryPoints": ["web"],
                    "rule": platform.platform_rule("PathPrefix(`/bench-noauth/`)"),
                    "middlewares": ["bench-strip"],
                    "service": "auth",
                },
                "bench-floor": {
                    "entryPoints": ["web"],
                    "rule": platform.platform_rule("PathPrefix(`/bench-floor/`)"),
                    "middlewares": ["bench-strip-floor", "bench-ping-auth"],
                    "service": "auth",
                },
            },
            "middlewares": {
                "bench-strip": {"stripPrefix": {"prefixes": ["/bench-noauth"]}},
                "bench-strip-floor": {"stripPrefix": {"prefixes": ["/bench-floor"]}},
                "bench-ping-auth": {
                    "forwardAuth": {
                        "address": ping,
                        "trustForwardHeader": False,
                        "maxResponseBodySize": 16384,
                    }
                },
            },
        }
    }


EDGE_PATHS = (
    ("direct to auth", ""),
    ("traefik, no forwardAuth", "/bench-noauth"),
    ("traefik + forwardAuth to /ping", "/bench-floor"),
    ("traefik + gateway forwardAuth", ""),
)


def edge(platform: Platform, token: str, pids: dict[str, int], args) -> dict:
    """The four paths in alternated rounds: per path its figures averaged over the rounds
    (`runs`: each round's, for the per-round ratios), with the gateway connections Traefik
    closed (TIME-WAIT) per 100 requests."""
    urls = {
        name: f"{platform.url('auth') if name == 'direct to auth' else platform.public_url}"
        f"{prefix}{ME_PATH}"
        for name, prefix in EDGE_PATHS
    }
    for url in urls.values():  # warm up: JWKS caches, connection pools
        wrk(url, seconds=2, connections=args.connections, headers=bearer(token))
    runs: dict[str, list[dict[str, float]]] = {name: [] for name in urls}
    for _ in range(args.edge_rounds):
        for name, url in urls.items():
            closed = closed_connections(platform.ports["gateway"])
            m = costed_wrk(
                url,
                pids,
                seconds=args.seconds,
                connections=args.connections,
                headers=bearer(token),
            )
            m["gateway_conns_per_100"] = (
                max(closed_connections(platform.ports["gateway"]) - closed, 0)
                / max(m["total"], 1)
                * 100
            )
            runs[name].append(m)
    merged = merge_rounds(runs)
    for name, ms in runs.items():
        merged[name]["runs"] = ms
    return merged


def merge_rounds(runs: dict[str, list[dict[str, float]]]) -> dict[str, dict[str, float]]:
    """Per target, its rounds' figures averaged; requests and non-2xx answers summed."""
    merged = {}
    for name, ms in runs.items():
        merged[name] = {key: statistics.fmean(m[key] for m in ms) for key in ms[0]}
        merged[name]["total"] = sum(m["total"] for m in ms)
        merged[name]["non2xx"] = sum(m["non2xx"] for m in ms)
    return merged


def round_ratios(results: dict, name: str) -> str:
    """`name`'s req/s over direct's, round by round, and their median."""
    ratios = [
        m["rps"] / d["rps"]
        for m, d in zip(results[name]["runs"], results["direct to auth"]["runs"], strict=True)
    ]
    each = " ".join(f"{r:.2f}" for r in ratios)
    return f"median {statistics.median(ratios):.2f}x (rounds: {each})"
