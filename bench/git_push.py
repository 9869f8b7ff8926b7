"""`git push` to Berth -> the new version answering through Traefik, against the baseline of a
manual API deploy of the same commit, measured in the same run on real processes (Traefik,
gateway, auth, deploy web + worker + supervisor, sandboxed apps).

Two apps run the same stdlib web app: A is push-only (its code comes from `git push` with a
deploy token), B deploys from a local repository (file://) by the API. Each round commits a
new version; A gets it by `git push` (the clock runs from the push starting to the new version
answering, so it includes the push itself and the build's streamed output), B by a POST of a
deployment (from the request to the new version answering). Both are zero-downtime redeploys.

    uv run python bench/git_push.py [--pushes 7]

Needs the machine's PostgreSQL and RabbitMQ (like the tests), bubblewrap and pasta. Prints
figures; it never passes or fails on a timing.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
import uuid
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "services/deploy/tests"))
sys.path.insert(0, str(ROOT / "bench"))

from _deploy_platform import API, DeployBench, deploy_platform, until  # noqa: E402
from deploy_testkit import GIT_ENV, commit, make_repo, web_app_files  # noqa: E402

from berth_testing.bench import print_beside  # noqa: E402


def answers(platform, slug: str, text: str) -> bool:
    r = httpx.get(platform.public_url + "/", headers={"Host": f"{slug}.apps.localhost"})
    return r.status_code == 200 and r.text == text


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--pushes", type=int, default=7)
    args = parser.parse_args()
    with deploy_platform() as bench:
        measure(args, bench)


def measure(args: argparse.Namespace, bench: DeployBench) -> None:
    platform, edge, auth = bench.platform, bench.edge, bench.auth
    work = make_repo(platform.work / "work", web_app_files("v0"))

    pushed = edge.post(
        f"{API}/apps",
        json={"slug": f"push-{uuid.uuid4().hex[:8]}", "template": "python-web"},
        headers=auth,
    ).json()
    made = edge.post(
        f"{API}/apps/{pushed['id']}/deploy-tokens", json={"name": "bench"}, headers=auth
    ).json()
    scheme, _, rest = made["remote_url"].partition("://")
    remote = f"{scheme}://git:{made['token']}@{rest}"
    manual = edge.post(
        f"{API}/apps",
        json={
            "slug": f"api-{uuid.uuid4().hex[:8]}",
            "template": "python-web",
            "repo_url": f"file://{work}",
        },
        headers=auth,
    ).json()

    env = {**GIT_ENV, "GIT_TERMINAL_PROMPT": "0", "PATH": os.environ["PATH"]}

    def push() -> subprocess.Popen:
        return subprocess.Popen(
            ["git", "-C", str(work), "push", "-q", remote, "main"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )

    # first deploys (not measured): both apps run v0
    first = push()
    edge.post(f"{API}/apps/{manual['id']}/deployments", headers=auth)
    until(lambda: answers(platform, pushed["slug"], "hello v0"), 180, "the pushed app")
    until(lambda: answers(platform, manual["slug"], "hello v0"), 180, "the API-deployed app")
    first.wait(60)

    by_push, by_api, push_exit = [], [], []
    for i in range(1, args.pushes + 1):
        text = f"hello v{i}"
        commit(work, web_app_files(f"v{i}"), f"v{i}")

        start = time.perf_counter()
        proc = push()
        until(lambda t=text: answers(platform, pushed["slug"], t), 180, "the pushed version")
        by_push.append(time.perf_counter() - start)
        proc.wait(120)
        push_exit.append(time.perf_counter() - start)  # the push ends after the deploy does

        start = time.perf_counter()
        edge.post(f"{API}/apps/{manual['id']}/deployments", headers=auth)
        until(lambda t=text: answers(platform, manual["slug"], t), 180, "the API deploy")
        by_api.append(time.perf_counter() - start)
        wait_idle(edge, auth, manual["id"])
        wait_idle(edge, auth, pushed["id"])

    def quantiles(values: list[float]) -> dict[str, float]:
        q = (
            statistics.quantiles(values, n=10, method="inclusive")
            if len(values) > 1
            else values * 9
        )
        figures = {"p50": statistics.median(values), "p90": q[8], "min": min(values)}
        return {**figures, "max": max(values)}

    api = quantiles(by_api)
    now, base = {}, {}
    for what, values in (("new version answering", by_push), ("push returns", push_exit)):
        for name, value in quantiles(values).items():
            now[f"git push -> {what}: {name} ms"] = value * 1000
            base[f"git push -> {what}: {name} ms"] = api[name] * 1000
    print_beside(
        f"Redeploys of a tiny stdlib app, {args.pushes} rounds, {os.cpu_count()} cores, "
        f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}; beside each figure the "
        "same of an API deploy -> new version answering, alternated in this run",
        now,
        base,
        base_label="API deploy",
    )
    print(json.dumps({"push_s": by_push, "push_exit_s": push_exit, "api_deploy_s": by_api}))


def wait_idle(edge: httpx.Client, auth: dict, app_id: str) -> None:
    until(
        lambda: (
            edge.get(f"{API}/apps/{app_id}", headers=auth).json()["active_operation_id"] is None
        ),
        120,
        "the app's operation to end",
    )


if __name__ == "__main__":
    main()
