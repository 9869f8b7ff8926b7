"""Node failover time, measured on real processes: two deploy nodes on this machine (node A:
the platform's worker and supervisor; node B: a worker on its own queue and a supervisor,
with its own data directory, uid range and port pool), one Traefik serving both.

Each round deploys an app (placed on node B, which offers more memory), then kills node B
(worker, supervisor and the app's processes, as when its host dies) and times how long until
the app answers through Traefik again, from node A. Baseline, in the same run: a deploy of
the same app on the live node A, from the request to its first answer (what a failover adds
on top of it is detecting the silent node, `DEPLOY_NODE_DOWN_SECONDS`).

    uv run python bench/deploy_failover.py [--rounds 3] [--down-seconds 5]

Needs the machine's PostgreSQL and RabbitMQ (like the tests), bubblewrap and pasta. Prints
figures; it never passes or fails on a timing.
"""

import argparse
import os
import signal
import statistics
import sys
import time
import uuid
from pathlib import Path

import httpx
import psutil

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "services/deploy/tests"))

from deploy_testkit import make_repo, web_app_files  # noqa: E402

from berth_testing.platform import second_node_env  # noqa: E402

sys.path.insert(0, str(ROOT / "bench"))
from _deploy_platform import API, DeployBench, deploy_platform, until  # noqa: E402


def serves(bench: DeployBench, slug: str) -> bool:
    r = httpx.get(
        bench.platform.public_url + "/", headers={"Host": f"{slug}.apps.localhost"}, timeout=2
    )
    return r.status_code == 200 and r.text == "hello v1"


def deploy(bench: DeployBench, repo: Path) -> tuple[str, float]:
    """A new app deployed; seconds from the deploy request to its first answer."""
    slug = f"failover-{uuid.uuid4().hex[:8]}"
    app = bench.edge.post(
        f"{API}/apps",
        json={"slug": slug, "template": "python-web", "repo_url": f"file://{repo}"},
        headers=bench.auth,
    ).json()
    start = time.perf_counter()
    op = bench.edge.post(f"{API}/apps/{app['id']}/deployments", headers=bench.auth).json()
    until(lambda: serves(bench, slug), 180, "the deployed app")
    took = time.perf_counter() - start
    # the node is killed in a steady state: its deploy has ended (a node lost mid-operation
    # also waits for the operation's lease to lapse, DEPLOY_LEASE_SECONDS)
    until(
        lambda: (
            bench.edge.get(
                f"{API}/apps/{app['id']}/operations/{op['id']}", headers=bench.auth
            ).json()["status"]
            == "succeeded"
        ),
        120,
        "the deploy to end",
    )
    return slug, took


def node_of(bench: DeployBench, name: str) -> dict:
    nodes = bench.edge.get(f"{API}/admin/nodes", headers=bench.auth).json()["items"]
    return next(n for n in nodes if n["name"] == name)


def kill_node(bench: DeployBench, label: str, data_dir: Path) -> None:
    for kind in ("worker", "supervisor"):
        bench.platform.processes.pop(f"deploy-{label}-{kind}").kill()
    for proc in psutil.process_iter(["pid", "cmdline"]):
        if str(data_dir) in " ".join(proc.info["cmdline"] or ()):
            try:
                os.kill(proc.info["pid"], signal.SIGKILL)
            except ProcessLookupError:
                pass


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--down-seconds", type=float, default=5.0)
    args = parser.parse_args()
    down = {"DEPLOY_NODE_DOWN_SECONDS": str(args.down_seconds)}
    with deploy_platform(down) as bench:
        measure(args, bench)


def measure(args: argparse.Namespace, bench: DeployBench) -> None:
    platform = bench.platform
    repo = make_repo(platform.work / "repo", web_app_files("v1"))
    node_b = f"bench-b-{uuid.uuid4().hex[:6]}"
    data_b = platform.work / "node-b"
    env_b = second_node_env(node_b, data_b)  # new apps go to node B
    baseline, failover = [], []
    for _ in range(args.rounds):
        platform.start_deploy_node("nodeb", env_b)
        until(lambda: node_of(bench, node_b)["status"] == "active", 30, "node B active")
        slug, _ = deploy(bench, repo)  # on node B
        kill_node(bench, "nodeb", data_b)
        stopped = time.perf_counter()
        until(lambda s=slug: serves(bench, s), 300, "the app back on node A")
        failover.append(time.perf_counter() - stopped)
        # baseline: the same app deployed on the live node A (node B is down now)
        baseline.append(deploy(bench, repo)[1])

    load = os.getloadavg()
    print(f"machine load (1/5/15 min): {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    print(f"node down timeout (DEPLOY_NODE_DOWN_SECONDS): {args.down_seconds:g}s")
    print(f"{'figure':<48} {'median':>8} {'min':>8} {'max':>8}")
    for name, values in (
        ("baseline: deploy on a live node -> answer (s)", baseline),
        ("node killed -> app answers from the other (s)", failover),
    ):
        print(
            f"{name:<48} {statistics.median(values):>8.1f} {min(values):>8.1f} {max(values):>8.1f}"
        )
    extra = statistics.median(failover) - statistics.median(baseline)
    print(f"failover beyond a plain deploy (median): {extra:.1f}s")


if __name__ == "__main__":
    main()
