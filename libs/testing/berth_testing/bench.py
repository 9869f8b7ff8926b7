"""What the benchmarks in bench/ share: a throwaway platform (own database, ports, work
directory), wrk runs parsed into figures, memory of a process tree, and every figure printed
beside its baseline from the same run (the previous code re-run, or a peer measured beside)."""

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import psutil

from berth_testing.broker import DEFAULT_BROKER
from berth_testing.platform import Platform
from berth_testing.plugin import (
    PORT_NAMES,
    create_platform_database,
    drop_database,
    make_signing_jwks,
    service_credentials,
    service_env,
)
from berth_testing.processes import free_port

BENCH_ADMIN_EMAIL = "bench-admin@berth.localhost"
BENCH_ADMIN_PASSWORD = "bench-password-0123456789"


@contextmanager
def bench_platform(
    root: Path, extra_env: dict[str, str], broker_url: str | None = None
) -> Iterator[Platform]:
    """A platform of real processes on free ports over a fresh migrated database, with the
    panel client and a bench admin bootstrapped; everything is removed afterwards. The caller
    starts the processes it measures."""
    work = Path(tempfile.mkdtemp(prefix="berth-bench-"))
    ports = {name: free_port() for name in PORT_NAMES}
    database = create_platform_database(root, prefix="berth_bench")
    env = service_env(
        database_url=database.url,
        broker_url=broker_url or os.environ.get("TEST_BROKER_URL", DEFAULT_BROKER),
        signing_jwks=make_signing_jwks(),
        ports=ports,
        var=work,
    )
    env.update(
        {
            "AUTH_BOOTSTRAP_ADMIN_EMAIL": BENCH_ADMIN_EMAIL,
            "AUTH_BOOTSTRAP_ADMIN_PASSWORD": BENCH_ADMIN_PASSWORD,
            "LOG_LEVEL": "WARNING",
            # the benches measure the platform, not the limiter's refusals
            "GATEWAY_RATE_LIMIT_AUTHENTICATED": "100000000/minute",
            "GATEWAY_RATE_LIMIT_ANONYMOUS": "100000000/minute",
            **extra_env,
        }
    )
    platform = Platform(root, {**os.environ, **env}, ports, work, service_credentials(database))
    try:
        subprocess.run(
            [sys.executable, "-m", "berth_auth.cli", "bootstrap"],
            env=platform.env_for("auth"),
            check=True,
            cwd=root,
            stdout=subprocess.DEVNULL,
        )
        yield platform
    finally:
        platform.stop()
        drop_database(database.url)
        shutil.rmtree(work, ignore_errors=True)


def wrk(
    url: str,
    *,
    seconds: int,
    connections: int,
    headers: dict[str, str] | None = None,
    inside: list[str] = (),
) -> dict[str, float]:
    """One `wrk -t1 --latency` run: req/s, p50/p99 in ms, totals, non-2xx and socket errors.

    `inside`: a command prefix that runs wrk elsewhere (e.g. nsenter into an app's network).
    """
    header_args = [arg for k, v in (headers or {}).items() for arg in ("-H", f"{k}: {v}")]
    argv = ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--latency", *header_args, url]
    done = subprocess.run(  # noqa: S603 - fixed argv
        [*inside, *argv],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"wrk failed: {done.stdout}\n{done.stderr}")
    out = done.stdout

    def pct(p: str) -> float:
        m = re.search(rf"\s{p}%\s+([\d.]+)(us|ms|s)\b", out)
        value, unit = float(m.group(1)), m.group(2)
        return value / 1000 if unit == "us" else value * 1000 if unit == "s" else value

    non2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    sockets = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out
    )
    return {
        "rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),
        "p50": pct("50"),
        "p99": pct("99"),
        "total": int(re.search(r"(\d+) requests in", out).group(1)),
        "non2xx": int(non2xx.group(1)) if non2xx else 0,
        "socket_errors": sum(int(g) for g in sockets.groups()) if sockets else 0,
    }


def rss_mb(pid: int) -> float:
    """Resident memory of a process and all its children, in MiB."""
    p = psutil.Process(pid)
    return sum(c.memory_info().rss for c in [p, *p.children(recursive=True)]) / 2**20


def cpu_seconds(pid: int) -> float:
    """CPU time (user + system) used so far by a process and its children: the cost of a run
    however busy the machine is, where req/s and latency depend on what else runs."""
    p = psutil.Process(pid)
    return sum(sum(c.cpu_times()[:2]) for c in [p, *p.children(recursive=True)])


@contextmanager
def previous_code(root: Path, ref: str, paths: list[str]) -> Iterator[Path]:
    """`paths` of the repository as they were at `ref` (git archive into a temporary directory):
    a bench runs the previous code beside the current one, in the same run, as its baseline."""
    work = Path(tempfile.mkdtemp(prefix="berth-bench-previous-"))
    try:
        archive = subprocess.run(  # noqa: S603 - fixed argv
            ["git", "-C", str(root), "archive", "--format=tar", ref, *paths],  # noqa: S607
            capture_output=True,
            check=True,
        )
        subprocess.run(["tar", "-x", "-C", str(work)], input=archive.stdout, check=True)  # noqa: S603,S607
        yield work
    finally:
        shutil.rmtree(work, ignore_errors=True)


def closed_connections(port: int) -> int:
    """TCP connections to or from `port` closed in the last minute or so (TIME-WAIT): before
    and after a run, how many connections a client opened instead of reusing one."""
    out = subprocess.run(  # noqa: S603 - fixed argv
        ["ss", "-tanH", "state", "time-wait", f"( sport = :{port} or dport = :{port} )"],  # noqa: S607
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return len(out.splitlines())


def previous_ref(root: Path, paths: list[str]) -> str:
    """The default baseline of a bench: the parent of the newest commit that changed its
    measured `paths`, so that run on main itself it still compares against something."""
    newest = subprocess.run(  # noqa: S603 - fixed argv
        ["git", "-C", str(root), "rev-list", "-1", "HEAD", "--", *paths],  # noqa: S607
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    return f"{newest}^"


def describe_ref(root: Path, ref: str) -> str:
    """`ref` as a short hash and subject, for the figures' heading."""
    return subprocess.run(  # noqa: S603 - fixed argv
        ["git", "-C", str(root), "log", "-1", "--format=%h %s", ref],  # noqa: S607
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()[:70]


def previous_arguments(parser: argparse.ArgumentParser) -> None:
    """--previous REF (or `none`) and the hidden --emit-json of a bench run twice."""
    parser.add_argument(
        "--previous",
        default=None,
        help="git ref of the baseline code (default: the parent of the newest commit that "
        "changed the measured paths); `none` skips the previous run",
    )
    parser.add_argument("--emit-json", action="store_true", help=argparse.SUPPRESS)


def figures_of_previous(
    root: Path, script: Path, ref: str, paths: list[str], argv: list[str]
) -> dict[str, float]:
    """Runs `script` again with `argv` and --emit-json under `paths` as they were at `ref`
    (PYTHONPATH ahead of this checkout's installed packages); the figures it printed last."""
    with previous_code(root, ref, paths) as tree:
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(
            [str(tree / path) for path in paths] + [p for p in [env.get("PYTHONPATH")] if p]
        )
        done = subprocess.run(  # noqa: S603 - this interpreter, our own script
            [sys.executable, str(script), *argv, "--emit-json"],
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
    if done.returncode != 0:
        raise RuntimeError(f"the previous code's run failed:\n{done.stdout}\n{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def _number(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:,.0f}" if abs(value) >= 100 else f"{value:.3g}"


def print_beside(
    title: str, now: dict[str, float], base: dict[str, float | None], base_label: str = "previous"
) -> None:
    """The one table of every bench: figure | baseline | now | now / baseline. The baseline is
    the previous code's figure or a peer measured in the same run."""
    width = max(len(name) for name in now) + 2
    print(f"\n{title}")
    print(f"{'figure':<{width}} {base_label:>12} {'now':>12} {'now/base':>9}")
    for name, value in now.items():
        before = base.get(name)
        ratio = f"{value / before:.2f}x" if before else "-"
        print(f"{name:<{width}} {_number(before):>12} {_number(value):>12} {ratio:>9}")


def beside_previous(
    root: Path,
    paths: list[str],
    args: argparse.Namespace,
    measure: Callable[[argparse.Namespace], dict[str, float]],
    title: str,
) -> dict[str, float]:
    """A bench's measurement run under this code, then (unless --emit-json: we are the
    previous run ourselves, or --previous none) again under the previous code in a subprocess;
    every figure printed beside the previous one. Returns this code's figures."""
    now = measure(args)
    if args.emit_json:
        print(json.dumps(now))
        return now
    if (args.previous or "").lower() == "none":
        print_beside(f"{title} (no previous run)", now, {})
        return now
    ref = args.previous or previous_ref(root, paths)
    script = Path(sys.argv[0]).resolve()
    previous = figures_of_previous(root, script, ref, paths, sys.argv[1:])
    heading = (
        f"{title}\nprevious = {ref} ({describe_ref(root, ref)}) of {', '.join(paths)}; "
        f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}"
    )
    print_beside(heading, now, previous)
    return now
