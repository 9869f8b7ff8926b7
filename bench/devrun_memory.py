"""`make run` idle memory: PSS of every process of the platform, per Procfile entry (its
children included: prefork pool, embedded beat) and in total, for the runner as it is
(Python entries forked from a preloaded interpreter) against the baseline of a fresh
interpreter per entry (`BERTH_DEVRUN_PREFORK=0`), measured in the same run. PostgreSQL
(embedded or the machine's) is not counted. Uses this checkout's var/ (stop `make run` first).

    uv run python bench/devrun_memory.py [--settle 60]

Prints figures; never passes or fails.
"""

import argparse
import collections
import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import psutil

ROOT = Path(__file__).resolve().parent.parent
STARTED = re.compile(r"\| (\S+) started \(pid=(\d+)\)")


def measure(prefork: bool, settle: float) -> dict[str, float]:
    env = {**os.environ, "BERTH_DEVRUN_PREFORK": "1" if prefork else "0"}
    log_lines: list[str] = []
    proc = subprocess.Popen(
        [sys.executable, "-m", "berth_devrun", "run"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    reader = threading.Thread(target=lambda: log_lines.extend(proc.stdout), daemon=True)
    reader.start()
    try:
        deadline = time.monotonic() + 900
        while not _answers():
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("make run did not come up:\n" + "".join(log_lines[-20:]))
            time.sleep(2)
        time.sleep(settle)  # idle: every entry started, beats ticking
        names = {int(pid): name for line in log_lines for name, pid in STARTED.findall(line)}
        return _pss_by_entry(proc.pid, names)
    finally:
        os.killpg(proc.pid, signal.SIGINT)
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)


def _answers() -> bool:
    try:
        return httpx.get("http://localhost:8080/", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


def _pss_by_entry(root_pid: int, names: dict[int, str]) -> dict[str, float]:
    sizes: dict[str, float] = collections.Counter()
    root = psutil.Process(root_pid)
    for p in [root, *root.children(recursive=True)]:
        try:
            pss = p.memory_full_info().pss
            chain = [p, *p.parents()]
        except psutil.Error:
            continue
        entry = next((names[q.pid] for q in chain if q.pid in names), "(runner, honcho)")
        sizes[entry] += pss / 2**20
    return sizes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--settle", type=float, default=60)
    args = parser.parse_args()
    base = measure(prefork=False, settle=args.settle)
    now = measure(prefork=True, settle=args.settle)
    print(f"\n{'entry':<28} {'fresh (MiB)':>12} {'prefork (MiB)':>14}")
    for entry in sorted(set(base) | set(now), key=lambda e: -now.get(e, 0)):
        print(f"{entry:<28} {base.get(entry, 0):>12.1f} {now.get(entry, 0):>14.1f}")
    print(f"{'TOTAL':<28} {sum(base.values()):>12.0f} {sum(now.values()):>14.0f}")
    print("goal: at most 1,536 MiB (1.5 GB) in total")


if __name__ == "__main__":
    main()
