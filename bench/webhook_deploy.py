"""Webhook -> deploy started: from a signed forge push delivery sent through Traefik to its
deploy operation running on a worker, against a baseline in the same run: the owner's API
deploy request (POST /deployments) -> running. Real processes (Traefik, gateway, auth, deploy
web + worker + supervisor, sandboxed builds and apps); each measured deploy is let finish
before the next, alternating baseline and webhook on one app.

    uv run python bench/webhook_deploy.py [--rounds 9] [--forge github]

Needs the machine's PostgreSQL and RabbitMQ (like the tests) and bubblewrap. Prints figures;
it never passes or fails on a timing.
"""

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "services/deploy/tests"))
sys.path.insert(0, str(ROOT / "bench"))

from _deploy_platform import API, DeployBench, deploy_platform  # noqa: E402
from deploy_testkit import commit, make_repo, web_app_files  # noqa: E402
from forge_payloads import push_payload, signed  # noqa: E402

DONE = ("succeeded", "failed", "cancelled", "superseded")


def until_status(edge, auth, app_id: str, op_id: str, wanted: tuple[str, ...], timeout: float):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        op = edge.get(f"{API}/apps/{app_id}/operations/{op_id}", headers=auth).json()
        if op["status"] in wanted:
            return op
        time.sleep(0.005)
    raise TimeoutError(f"operation {op_id} never reached {wanted}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument(
        "--forge", default="github", choices=("github", "gitlab", "gitea", "bitbucket")
    )
    args = parser.parse_args()
    with deploy_platform() as bench:
        measure(args, bench)


def measure(args: argparse.Namespace, bench: DeployBench) -> None:
    platform, edge, auth = bench.platform, bench.edge, bench.auth
    repo = make_repo(platform.work / "repo", web_app_files("v0"))
    app = edge.post(
        f"{API}/apps",
        json={"slug": "bench-hooks", "template": "python-web", "repo_url": f"file://{repo}"},
        headers=auth,
    ).json()
    secret = edge.post(f"{API}/apps/{app['id']}/webhook-secret", headers=auth).json()["secret"]

    manual, hooked, answers = [], [], []
    for i in range(args.rounds):
        start = time.perf_counter()
        op = edge.post(f"{API}/apps/{app['id']}/deployments", headers=auth).json()
        until_status(edge, auth, app["id"], op["id"], ("running", *DONE), 60)
        manual.append(time.perf_counter() - start)
        until_status(edge, auth, app["id"], op["id"], DONE, 180)

        sha = commit(repo, web_app_files(f"v{i + 1}"), f"v{i + 1}")
        body, headers = signed(args.forge, secret, push_payload(args.forge, "main", sha))
        start = time.perf_counter()
        answer = edge.post(f"{API}/hooks/{app['id']}/{args.forge}", content=body, headers=headers)
        answered = time.perf_counter() - start
        op_id = answer.json()["operation_id"]
        until_status(edge, auth, app["id"], op_id, ("running", *DONE), 60)
        hooked.append(time.perf_counter() - start)
        done = until_status(edge, auth, app["id"], op_id, DONE, 180)
        answers.append(answered)
        assert done["status"] == "succeeded" and done["commit_sha"] == sha, done

    def ms(values: list[float]) -> str:
        q = (
            statistics.quantiles(values, n=10, method="inclusive")
            if len(values) > 1
            else values * 9
        )
        return (
            f"p50 {statistics.median(values) * 1000:6.0f} ms   p90 {q[8] * 1000:6.0f} ms   "
            f"min {min(values) * 1000:5.0f}   max {max(values) * 1000:5.0f}"
        )

    print(f"\nDeploy started (operation running), {args.rounds} rounds, {os.cpu_count()} cores")
    print(f"  {args.forge} webhook -> running        {ms(hooked)}")
    print(f"  baseline: API deploy -> running  {ms(manual)}")
    print(f"  the webhook's own answer (200)   {ms(answers)}")
    print(
        json.dumps(
            {
                "webhook_to_running_s": hooked,
                "api_to_running_s": manual,
                "webhook_answer_s": answers,
            }
        )
    )


if __name__ == "__main__":
    main()
