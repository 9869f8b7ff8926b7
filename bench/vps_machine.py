"""The VPS machine driver on this node: create -> SSH answering (p50/p90 over n machines),
memory per idle VPS (PSS of the machine's host processes: QEMU, or the container's), and a
console keystroke round trip (a byte typed on the console socket until its echo comes back).
Prints figures; never passes or fails on a timing.

    uv run python bench/vps_machine.py [--n 5] [--kind auto|kvm|container] [--idle 20]
        [--previous REF|none]

The figures are printed beside the previous code's (services/deploy, libs/common as they were
before their newest change, or --previous), run again in a subprocess with the same settings:
with KVM that doubles a run of minutes; `--previous none` skips it.

Needs root (the sandbox launcher), the base image (built on first use under var/vps-images,
or `python -m berth_deploy.vps.machine build-image`), and the --vps Debian packages.
"""

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

from cryptography.fernet import Fernet

from berth_deploy.config import DeploySettings
from berth_deploy.vps.machine import MachineSettings, machine_driver
from berth_deploy.vps.machine.image import ImageStore
from berth_testing.bench import beside_previous, previous_arguments

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "services/deploy/tests"))
from vps_machine_kit import IMAGES_DIR, make_key, new_spec, wait_ssh

ROOT = Path(__file__).resolve().parents[1]
MEASURED = ["libs/common", "services/deploy"]


def pss_kb(pids: list[int]) -> int:
    total = 0
    for pid in pids:
        try:
            for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
                if line.startswith("Pss:"):
                    total += int(line.split()[1])
        except OSError:
            continue
    return total


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


async def keystroke_rtt(socket_path: Path, rounds: int = 20) -> list[float]:
    """Type a character at the shell prompt and wait for its echo."""
    reader, writer = await asyncio.open_unix_connection(str(socket_path))
    times = []
    try:
        writer.write(b"\x15")  # ^U: an empty line to type on
        await writer.drain()
        await asyncio.sleep(0.5)
        with_timeout = asyncio.timeout
        while True:  # drain what the console printed so far
            try:
                async with with_timeout(0.3):
                    if not await reader.read(65536):
                        break
            except TimeoutError:
                break
        for i in range(rounds):
            char = bytes([ord("a") + i % 26])
            started = time.perf_counter()
            writer.write(char)
            await writer.drain()
            seen = b""
            async with with_timeout(10):
                while char not in seen:
                    seen += await reader.read(64)
            times.append((time.perf_counter() - started) * 1000)
        writer.write(b"\x15")
        await writer.drain()
    finally:
        writer.close()
    return times


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=5)
    parser.add_argument("--kind", default="auto", choices=["auto", "kvm", "container"])
    parser.add_argument("--idle", type=float, default=20.0, help="seconds idle before PSS")
    parser.add_argument("--memory-mb", type=int, default=512)
    previous_arguments(parser)
    args = parser.parse_args()
    beside_previous(
        ROOT,
        MEASURED,
        args,
        lambda a: asyncio.run(measure(a)),
        f"VPS machine driver ({args.kind}), n={args.n}, {args.memory_mb} MB each",
    )


async def measure(args: argparse.Namespace) -> dict[str, float]:
    machine = MachineSettings(images_dir=IMAGES_DIR, hypervisor=args.kind)
    started = time.monotonic()
    await ImageStore(IMAGES_DIR, machine).ensure("debian-12", print)
    print(f"base image ready in {time.monotonic() - started:.1f}s ({IMAGES_DIR})")
    work = Path(tempfile.mkdtemp(prefix="berth-bench-vps-"))
    settings = DeploySettings(
        DEPLOY_DATA_DIR=str(work / "data"),
        DEPLOY_ENV_ENCRYPTION_KEY=Fernet.generate_key().decode(),
        cgroup_parent="berth-bench-vps",
    )
    driver = machine_driver(settings, machine)
    print(f"driver: {driver.kind}, n={args.n}, {args.memory_mb} MB each")
    key, public = make_key(work)
    specs, create_s, ssh_s = [], [], []
    try:
        for _ in range(args.n):
            spec = new_spec(public, memory_mb=args.memory_mb)
            specs.append(spec)
            t0 = time.monotonic()
            await driver.create(spec)
            await driver.start(spec)
            t1 = time.monotonic()
            await wait_ssh(key, spec.ssh_port)
            create_s.append(t1 - t0)
            ssh_s.append(time.monotonic() - t0)
            print(
                f"  {spec.hostname}: create+start {t1 - t0:.1f}s, SSH answering at {ssh_s[-1]:.1f}s"
            )
        print(
            f"order -> SSH answering: p50 {pct(ssh_s, 0.5):.1f}s  p90 {pct(ssh_s, 0.9):.1f}s  (create+start p50 {pct(create_s, 0.5):.1f}s)"
        )
        await asyncio.sleep(args.idle)
        for spec in specs:
            pids = driver.sandbox.cgroups.pids(driver.paths(spec.vps_id).name)
            usage = driver.usage(spec.vps_id)
            print(
                f"  {spec.hostname}: host PSS {pss_kb(pids) / 1024:.0f} MiB over {len(pids)} processes, cgroup memory {usage['memory_bytes'] / 2**20:.0f} MiB, disk {usage['disk_bytes'] / 2**20:.0f} MiB"
            )
        pss = [
            pss_kb(driver.sandbox.cgroups.pids(driver.paths(s.vps_id).name)) / 1024 for s in specs
        ]
        print(
            f"idle VPS memory (host PSS): mean {statistics.mean(pss):.0f} MiB, max {max(pss):.0f} MiB"
        )
        rtt = await keystroke_rtt(driver.console_socket(specs[0].vps_id))
        print(
            f"console keystroke round trip: p50 {pct(rtt, 0.5):.2f} ms  p90 {pct(rtt, 0.9):.2f} ms  (n={len(rtt)})"
        )
        return {
            "order -> SSH answering p50 s": pct(ssh_s, 0.5),
            "order -> SSH answering p90 s": pct(ssh_s, 0.9),
            "create+start p50 s": pct(create_s, 0.5),
            "idle VPS host PSS mean MiB": statistics.mean(pss),
            "idle VPS host PSS max MiB": max(pss),
            "console keystroke p50 ms": pct(rtt, 0.5),
            "console keystroke p90 ms": pct(rtt, 0.9),
        }
    finally:
        for spec in specs:
            await driver.destroy(spec.vps_id)


if __name__ == "__main__":
    main()
