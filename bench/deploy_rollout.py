"""Deploy figures, all measured in one run on real processes (Traefik, gateway, auth, deploy
web + worker + supervisor, sandboxed apps):

1. time from the deploy request to the first successful request through Traefik, for a tiny
   app with no dependencies (median of several deploys), against a baseline: the same app
   started directly with `python3 app.py` until it answers;
2. requests/s to a deployed app through Traefik versus direct to its port (wrk);
3. memory of the deploy processes and of one sandboxed app.

    uv run python bench/deploy_rollout.py [--deploys 7] [--seconds 10] [--connections 16]

Needs the machine's PostgreSQL and RabbitMQ (like the tests), bubblewrap, pasta and `wrk`
(`make bench` installs the Debian packages). With network isolation, throughput is also
measured inside the app's own namespace (nsenter), so what pasta costs shows on its own.
Prints figures; it never passes or fails on a timing.
"""

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
import uuid
from pathlib import Path

import httpx
import psutil

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "services/deploy/tests"))

from deploy_testkit import commit, make_repo, web_app_files  # noqa: E402

from berth_testing.bench import rss_mb, wrk  # noqa: E402
from berth_testing.processes import free_port  # noqa: E402

sys.path.insert(0, str(ROOT / "bench"))
from _deploy_platform import API, DeployBench, deploy_platform, until  # noqa: E402


def baseline_start(app_dir: Path) -> float:
    """Seconds from `python3 app.py` to its first answer, no platform in between."""
    port = free_port()
    start = time.perf_counter()
    proc = subprocess.Popen(
        ["python3", "app.py"],
        cwd=app_dir,
        env={"PATH": "/usr/bin:/bin", "PORT": str(port), "HOME": str(app_dir)},
        stdout=subprocess.DEVNULL,
    )
    try:
        until(lambda: httpx.get(f"http://127.0.0.1:{port}/").status_code == 200, 30, "baseline")
        return time.perf_counter() - start
    finally:
        proc.kill()
        proc.wait()


def port_in_namespace(pid: int, port: int) -> bool:
    """Whether the process's network namespace has a listener on `port`."""
    try:
        with open(f"/proc/{pid}/net/tcp") as f:
            return any(
                int(row.split()[1].split(":")[1], 16) == port and row.split()[3] == "0A"
                for row in f.readlines()[1:]
            )
    except OSError:
        return False


def line(name: str, m: dict[str, float], base: dict[str, float] | None) -> str:
    ratio = f"{m['rps'] / base['rps']:.2f}x" if base else "1.00x"
    return (
        f"{name:<28} {m['rps']:>9.0f} {ratio:>7} {m['p50']:>8.2f} {m['p99']:>8.2f} "
        f"{m['total']:>8} {m['non2xx']:>6} {m['socket_errors']:>6}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--deploys", type=int, default=7)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--connections", type=int, default=16)
    args = parser.parse_args()
    for tool in ("wrk", "bwrap"):
        if not shutil.which(tool):
            sys.exit(
                f"{tool} is not installed (apt-get install -y {tool.replace('bwrap', 'bubblewrap')})"
            )

    with deploy_platform() as bench:
        measure(args, bench)


def measure(args: argparse.Namespace, bench: DeployBench) -> None:
    platform, edge, auth = bench.platform, bench.edge, bench.auth
    deploy_web, worker, supervisor = bench.web, bench.worker, bench.supervisor
    repo = make_repo(platform.work / "repo", web_app_files("v1"))
    baseline = [baseline_start(repo) for _ in range(args.deploys)]

    timings = []
    slug = ""
    for _ in range(args.deploys):
        slug = f"bench-{uuid.uuid4().hex[:8]}"
        app = edge.post(
            f"{API}/apps",
            json={"slug": slug, "template": "python-web", "repo_url": f"file://{repo}"},
            headers=auth,
        ).json()
        start = time.perf_counter()
        op = edge.post(f"{API}/apps/{app['id']}/deployments", headers=auth).json()
        until(
            lambda s=slug: (
                httpx.get(platform.public_url + "/", headers={"Host": f"{s}.apps.localhost"}).text
                == "hello v1"
            ),
            120,
            "the deployed app",
        )
        timings.append(time.perf_counter() - start)
        until(
            lambda a=app["id"], o=op["id"]: (
                edge.get(f"{API}/apps/{a}/operations/{o}", headers=auth).json()["status"]
                == "succeeded"
            ),
            60,
            "the operation",
        )

    # redeploy of the last app (zero downtime): request to the new version answering
    commit(repo, web_app_files("v2"), "v2")
    app_id = app["id"]
    start = time.perf_counter()
    op = edge.post(f"{API}/apps/{app_id}/deployments", headers=auth).json()
    until(
        lambda: (
            httpx.get(platform.public_url + "/", headers={"Host": f"{slug}.apps.localhost"}).text
            == "hello v2"
        ),
        120,
        "v2",
    )
    redeploy = time.perf_counter() - start
    until(
        lambda: (
            edge.get(f"{API}/apps/{app_id}/operations/{op['id']}", headers=auth).json()["status"]
            == "succeeded"
        ),
        60,
        "the redeploy to finish",
    )

    detail = edge.get(f"{API}/apps/{app_id}", headers=auth).json()
    port = next(i["port"] for i in detail["instances"] if i["status"] == "running")
    host = f"{slug}.apps.localhost"
    direct_url = f"http://127.0.0.1:{port}/"
    routed_url = f"{platform.public_url}/"
    wrk(direct_url, seconds=2, connections=args.connections)
    wrk(routed_url, seconds=2, connections=args.connections, headers={"Host": host})
    direct = wrk(direct_url, seconds=args.seconds, connections=args.connections)
    routed = wrk(
        routed_url, seconds=args.seconds, connections=args.connections, headers={"Host": host}
    )

    # with network isolation the host-side listener is the app's pasta; the app listens in
    # its own namespace, where wrk is run too to see what pasta costs
    listener = psutil.Process(
        next(
            c.pid
            for c in psutil.net_connections("tcp")
            if c.laddr.port == port and c.status == "LISTEN"
        )
    )
    pasta = listener if "pasta" in listener.name() or "passt" in listener.name() else None
    app_pid = listener.pid
    inside = None
    if pasta is not None:
        app_pid = next(
            p.pid
            for p in psutil.process_iter(["cmdline", "uids"])
            if "app.py" in " ".join(p.info["cmdline"] or ())
            and p.info["uids"].real >= 200_000
            and os.readlink(f"/proc/{p.pid}/ns/net") != os.readlink("/proc/self/ns/net")
            and port_in_namespace(p.pid, port)
        )
        inside = wrk(
            direct_url,
            seconds=args.seconds,
            connections=args.connections,
            inside=["nsenter", f"--net=/proc/{app_pid}/ns/net"],
        )

    def ms(values: list[float]) -> str:
        q = (
            statistics.quantiles(values, n=10, method="inclusive")
            if len(values) > 1
            else values * 9
        )
        return (
            f"median {statistics.median(values) * 1000:7.0f} ms   p90 {q[8] * 1000:7.0f} ms   "
            f"min {min(values) * 1000:6.0f}   max {max(values) * 1000:6.0f}"
        )

    print(
        f"\nDeploy of a tiny app (no dependencies), {args.deploys} deploys, {os.cpu_count()} cores"
    )
    print(f"  request -> first 200 through Traefik   {ms(timings)}")
    print(f"  baseline: python3 app.py -> first 200  {ms(baseline)}")
    print(
        f"  platform overhead (median)             {(statistics.median(timings) - statistics.median(baseline)) * 1000:7.0f} ms"
    )
    print(f"  zero-downtime redeploy -> v2 answering {redeploy * 1000:7.0f} ms")
    print(f"\nThroughput of the deployed app: wrk -t1 -c{args.connections} -d{args.seconds}s")
    print(
        f"{'path':<28} {'req/s':>9} {'vs dir':>7} {'p50 ms':>8} {'p99 ms':>8} {'reqs':>8} {'non2xx':>6} {'sockerr':>6}"
    )
    if inside is not None:
        print(line("in the app's namespace", inside, None))
        print(line("its port on the host (pasta)", direct, inside))
        print(line("through Traefik (Host)", routed, inside))
    else:
        print(line("direct to the app's port", direct, None))
        print(line("through Traefik (Host)", routed, direct))
    network = f", its network stack (pasta) {rss_mb(pasta.pid):.1f} MiB" if pasta else ""
    print(
        f"\nRSS: deploy web {rss_mb(deploy_web.pid):.0f} MiB, worker {rss_mb(worker.pid):.0f} MiB, "
        f"supervisor {rss_mb(supervisor.pid):.0f} MiB, one sandboxed app {rss_mb(app_pid):.0f} MiB"
        f"{network}"
    )
    print(
        json.dumps(
            {
                "deploy_to_first_request_s": timings,
                "baseline_start_s": baseline,
                "redeploy_s": redeploy,
                "direct": direct,
                "traefik": routed,
                "inside_namespace": inside,
            }
        )
    )


if __name__ == "__main__":
    main()
