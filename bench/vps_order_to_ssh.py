"""VPS figures, measured on real processes (Traefik, gateway, auth, deploy web + worker +
supervisor) and the real machine driver (KVM where /dev/kvm works, else the container
fallback):

1. order -> SSH answering (its banner at the forwarded port): p50 and p90 over several orders,
   after a first order that may build the Debian image (reported on its own);
2. memory of one idle VPS as the driver reports it (`usage.memory_bytes`, admin API), a minute
   after it booted.

    uv run python bench/vps_order_to_ssh.py [--orders 5] [--images-dir var/vps-images]
        [--previous REF|none]

The figures are printed beside the previous code's (services/deploy, libs/common as they were
before their newest change, or --previous), run again in a subprocess on its own platform with
the same settings: with KVM that doubles a run of minutes; `--previous none` skips it.

Needs the machine's PostgreSQL and RabbitMQ (like the tests) and what the driver needs (QEMU,
debootstrap: scripts/install-system-deps.sh --vps). The image cache outlives the run
(--images-dir), so only the very first run pays for debootstrap. Prints figures; it never
passes or fails on a timing.
"""

import argparse
import asyncio
import os
import statistics
import time
import uuid
from pathlib import Path

import httpx
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

ROOT = Path(__file__).resolve().parent.parent

from _deploy_platform import DeployBench, deploy_platform  # noqa: E402 (bench/, next to this)

from berth_testing.bench import beside_previous, previous_arguments, rss_mb  # noqa: E402

VPS = "/api/deploy/v1/vps"
MEASURED = ["libs/common", "services/deploy"]


def public_key() -> str:
    key = ed25519.Ed25519PrivateKey.generate().public_key()
    blob = key.public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
    return f"{blob.decode()} bench"


async def _banner(port: int) -> bool:
    try:
        async with asyncio.timeout(2):
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            line = await reader.readline()
            writer.close()
            return line.startswith(b"SSH-")
    except (OSError, TimeoutError):
        return False


def ssh_answers(port: int) -> bool:
    return asyncio.run(_banner(port))


def until(check, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = check()
        if result:
            return result
        time.sleep(0.05)
    raise SystemExit(f"{what}: not within {timeout:.0f}s")


def order_to_ssh(edge: httpx.Client, auth: dict, timeout: float) -> tuple[float, float, str]:
    """Seconds from the order to SSH's banner, and to the API saying running; the VPS id."""
    name = f"bench-{uuid.uuid4().hex[:6]}"
    start = time.perf_counter()
    r = edge.post(VPS, json={"name": name, "plan": "vps-1", "ssh_public_key": public_key()},
                  headers=auth)  # fmt: skip
    if r.status_code != 202:
        raise SystemExit(f"order refused: {r.status_code} {r.text}")
    vps = r.json()["vps"]
    until(lambda: ssh_answers(vps["ssh"]["port"]), timeout, "SSH answering")
    to_ssh = time.perf_counter() - start

    def running():
        seen = edge.get(f"{VPS}/{vps['id']}", headers=auth).json()
        if seen["status"] == "failed":
            raise SystemExit(f"the VPS failed: {seen['status_reason']}")
        return seen["status"] == "running"

    until(running, timeout, "the VPS running")
    return to_ssh, time.perf_counter() - start, vps["id"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--orders", type=int, default=5)
    parser.add_argument("--images-dir", type=Path, default=ROOT / "var" / "vps-images")
    parser.add_argument("--idle-seconds", type=float, default=60)
    previous_arguments(parser)
    args = parser.parse_args()
    args.images_dir.mkdir(parents=True, exist_ok=True)
    beside_previous(
        ROOT,
        MEASURED,
        args,
        measure_once,
        f"VPS, vps-1 plan (1 vCPU, 1 GiB, 10 GiB), {args.orders} orders after a first one, "
        f"{os.cpu_count()} cores",
    )


def measure_once(args: argparse.Namespace) -> dict[str, float]:
    extra = {
        "DEPLOY_VPS_IMAGES_DIR": str(args.images_dir.resolve()),
        "DEPLOY_VPS_MAX_PER_OWNER": str(args.orders + 2),
    }
    with deploy_platform(extra, worker_concurrency=1) as bench:
        return measure(args, bench)


def measure(args: argparse.Namespace, bench: DeployBench) -> dict[str, float]:
    edge, auth = bench.edge, bench.auth
    made: list[str] = []
    try:
        first_ssh, _, vps_id = order_to_ssh(edge, auth, 3600)
        made.append(vps_id)
        kind = edge.get(f"{VPS}/{vps_id}", headers=auth).json()["kind"]
        to_ssh, to_running = [], []
        for _ in range(args.orders):
            ssh_s, running_s, vps_id = order_to_ssh(edge, auth, 600)
            made.append(vps_id)
            to_ssh.append(ssh_s)
            to_running.append(running_s)
        time.sleep(args.idle_seconds)
        usage = [
            edge.get(f"/api/deploy/v1/admin/vps/{v}", headers=auth).json().get("usage") or {}
            for v in made
        ]
        memory = [u["memory_bytes"] / 2**20 for u in usage if u.get("memory_bytes")]
    finally:
        for vps_id in made:
            edge.delete(f"{VPS}/{vps_id}", headers=auth)
        for vps_id in made:
            until(
                lambda v=vps_id: edge.get(f"{VPS}/{v}", headers=auth).status_code == 404,
                300,
                "the VPS deleted",
            )

    def q(prefix: str, values: list[float]) -> dict[str, float]:
        p90 = (
            statistics.quantiles(values, n=10, method="inclusive")[8]
            if len(values) > 1
            else values[0]
        )
        return {
            f"{prefix}: p50 s": statistics.median(values),
            f"{prefix}: p90 s": p90,
            f"{prefix}: min s": min(values),
            f"{prefix}: max s": max(values),
        }

    print(
        f"VPS kind {kind}; RSS: deploy web {rss_mb(bench.web.pid):.0f} MiB, worker "
        f"{rss_mb(bench.worker.pid):.0f} MiB, supervisor {rss_mb(bench.supervisor.pid):.0f} MiB"
    )
    figures = {
        "first order (may build the image) -> SSH s": first_ssh,
        **q("order -> SSH banner", to_ssh),
        **q("order -> API says running", to_running),
    }
    if memory:
        figures[f"idle VPS memory after {args.idle_seconds:.0f}s, median MiB"] = statistics.median(
            memory
        )
        figures[f"idle VPS memory after {args.idle_seconds:.0f}s, max MiB"] = max(memory)
    return figures


if __name__ == "__main__":
    main()
