"""Container figures, measured in one run on real processes (Traefik, gateway, auth, deploy
web + worker + supervisor, a docker-registry on loopback, containers under crun):

1. deploy request -> first 200 through Traefik for a container app from the registry: the
   first deploy (its blobs not yet in the node's image store) and then deploys of new apps
   from the same image (its blobs cached; the digest is still resolved at the registry and
   the layers unpacked per release); and for an app built from a Dockerfile in git (FROM the
   same image by digest, one RUN step), clone + buildah build + unpack + start;
2. memory of an idle container instance against an idle plain app (python-web, a tiny
   http.server app), both measured the same way: the instance's cgroup (memory in use, as
   the app page shows it) and the RSS of its processes, plus its pasta's RSS.

    uv run python bench/container_deploy.py [--deploys 5]

Needs root (containers run as the app's uid), the machine's PostgreSQL and RabbitMQ,
crun, skopeo, docker-registry, busybox-static (scripts/install-system-deps.sh). Prints
figures; it never passes or fails on a timing.
"""

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

import httpx
import psutil

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "services/deploy/tests"))

from _deploy_platform import API, DeployBench, deploy_platform, until  # noqa: E402 (bench/)
from deploy_testkit import make_repo, web_app_files  # noqa: E402

from berth_testing.bench import rss_mb  # noqa: E402
from berth_testing.processes import free_port  # noqa: E402
from berth_testing.registry import LocalRegistry, busybox_web_image  # noqa: E402

CGROUP = Path("/sys/fs/cgroup")


def group_pids(instance_id: str) -> list[int]:
    for path in (
        CGROUP / "berth" / f"i-{instance_id}" / "cgroup.procs",
        CGROUP / "pids" / "berth" / f"i-{instance_id}" / "cgroup.procs",
    ):
        if path.exists():
            return [int(p) for p in path.read_text().split()]
    return []


def pasta_of(port: int) -> int | None:
    for conn in psutil.net_connections("tcp"):
        if conn.laddr.port == port and conn.status == "LISTEN" and conn.pid:
            return conn.pid
    return None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--deploys", type=int, default=5)
    args = parser.parse_args()
    if os.geteuid() != 0:
        sys.exit("containers need a root deploy worker: run this as root")
    with (
        tempfile.TemporaryDirectory() as tmp,
        LocalRegistry(free_port(), Path(tmp) / "registry") as registry,
    ):
        extra = {
            "DEPLOY_CONTAINER_REGISTRIES": registry.host,
            "DEPLOY_CONTAINER_INSECURE_REGISTRIES": registry.host,
        }
        with deploy_platform(extra) as bench:
            measure(args, bench, registry)


def deploy_and_time(edge, auth, platform, body: dict, expect: str) -> tuple[float, dict]:
    slug = f"bench-{uuid.uuid4().hex[:8]}"
    app = edge.post(f"{API}/apps", json={"slug": slug, **body}, headers=auth).json()
    start = time.perf_counter()
    op = edge.post(f"{API}/apps/{app['id']}/deployments", headers=auth).json()
    until(
        lambda: (
            httpx.get(platform.public_url + "/", headers={"Host": f"{slug}.apps.localhost"}).text
            == expect
        ),
        180,
        f"{slug} answering",
    )
    elapsed = time.perf_counter() - start
    until(
        lambda: (
            edge.get(f"{API}/apps/{app['id']}/operations/{op['id']}", headers=auth).json()["status"]
            == "succeeded"
        ),
        60,
        "the operation",
    )
    return elapsed, edge.get(f"{API}/apps/{app['id']}", headers=auth).json()


def memory(edge, auth, app: dict) -> dict:
    detail = edge.get(f"{API}/apps/{app['id']}", headers=auth).json()
    live = next(i for i in detail["instances"] if i["status"] == "running")
    pids = group_pids(live["id"])
    rss = sum(psutil.Process(pid).memory_info().rss for pid in pids) / 2**20
    pasta = pasta_of(live["port"])
    return {
        "cgroup_mb": (live["memory_bytes"] or 0) / 2**20,
        "rss_mb": rss,
        "processes": len(pids),
        "pasta_mb": rss_mb(pasta) if pasta else 0.0,
    }


def measure(args, bench: DeployBench, registry: LocalRegistry) -> None:
    platform, edge, auth = bench.platform, bench.edge, bench.auth
    digest = registry.push("bench/web:1", busybox_web_image("hello v1"))
    image = {"template": "container", "image": f"{registry.host}/bench/web:1"}
    cold, container = deploy_and_time(edge, auth, platform, image, "hello v1")
    cached = [
        deploy_and_time(edge, auth, platform, image, "hello v1")[0] for _ in range(args.deploys)
    ]
    built: list[float] = []
    for n in range(max(1, args.deploys // 2)):
        source = make_repo(
            platform.work / f"dockerfile-{n}",
            {
                "Dockerfile": f"FROM {registry.host}/bench/web@{digest}\n"
                "RUN echo 'built' > /www/index.html\n"
            },
        )
        try:
            built.append(
                deploy_and_time(
                    edge,
                    auth,
                    platform,
                    {"template": "dockerfile", "repo_url": f"file://{source}"},
                    "built\n",
                )[0]
            )
        except TimeoutError:
            print("a Dockerfile deploy did not answer within 180 s: see the deploy worker's log")
            break
    repo = make_repo(platform.work / "repo", web_app_files("v1"))
    plain_time, plain = deploy_and_time(
        edge, auth, platform, {"template": "python-web", "repo_url": f"file://{repo}"}, "hello v1"
    )
    time.sleep(3)  # both idle
    c_mem, p_mem = memory(edge, auth, container), memory(edge, auth, plain)

    def ms(values: list[float]) -> str:
        return (
            f"median {statistics.median(values) * 1000:6.0f} ms   min {min(values) * 1000:6.0f}"
            f"   max {max(values) * 1000:6.0f}"
        )

    print(f"\nContainer deploys (busybox httpd image {digest[:19]}…), {os.cpu_count()} cores")
    print(f"  request -> first 200, image not in the node's store   {cold * 1000:6.0f} ms")
    print(f"  request -> first 200, image cached ({args.deploys} deploys)  {ms(cached)}")
    print(f"  (a plain python-web app, for scale:                  {plain_time * 1000:6.0f} ms)")
    if built:
        print(f"  request -> first 200 from a Dockerfile ({len(built)} deploys)  {ms(built)}")
    else:
        print("  request -> first 200 from a Dockerfile: no figure (the deploy did not answer)")
    print("\nIdle memory per instance        cgroup MiB   RSS MiB  processes  pasta MiB")
    for name, m in (("container (crun, busybox)", c_mem), ("plain app (bwrap, python)", p_mem)):
        print(
            f"  {name:<28} {m['cgroup_mb']:>9.1f} {m['rss_mb']:>9.1f} {m['processes']:>10}"
            f" {m['pasta_mb']:>10.1f}"
        )
    print(
        json.dumps(
            {
                "cold_deploy_s": cold,
                "cached_deploys_s": cached,
                "dockerfile_deploys_s": built,
                "plain_app_deploy_s": plain_time,
                "container_memory": c_mem,
                "plain_app_memory": p_mem,
            }
        )
    )


if __name__ == "__main__":
    main()
