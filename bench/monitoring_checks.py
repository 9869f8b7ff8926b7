"""Monitoring's checker at 2,000 / 5,000 / 10,000 monitors on a 20 s interval against a local
target (127.0.0.2), with the real Celery worker and beat (the Procfile's commands). Prints, per
size: checks per minute sustained, worker CPU ms per check, worker RSS, interval drift p99,
bytes stored per 1,000 checks, the 2,000-monitor dashboard query while checks run, and the
time until every monitor is back on schedule after a SIGKILLed worker is restarted. Baseline in
the same run: the same checks one at a time per task shape (an httpx client and a transaction
per check, a row per result), for 1,000 monitors. Prints figures; never passes or fails.

    uv run python bench/monitoring_checks.py [--sizes 2000,5000,10000] [--seconds 60] [--quick]

Needs the machine's PostgreSQL and RabbitMQ (like the tests); makes and drops its own database.
"""

import argparse
import asyncio
import json
import random
import statistics
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import psutil
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from berth_testing.bench import bench_platform, cpu_seconds, print_beside, rss_mb
from berth_testing.platform import BIN
from berth_testing.processes import ManagedProcess, free_port, wait_until

ROOT = Path(__file__).resolve().parent.parent
INTERVAL = 20
RAW_TABLES = ("results", "result_failures")


async def q(url: str, statement: str, **params):
    engine = create_async_engine(url)
    try:
        async with engine.begin() as conn:
            result = await conn.execute(text(statement), params)
            return list(result.all()) if result.returns_rows else []
    finally:
        await engine.dispose()


def sql(url: str, statement: str, **params):
    return asyncio.run(q(url, statement, **params))


def table_bytes(url: str, table: str) -> int:
    [(size,)] = sql(
        url,
        "SELECT coalesce(sum(pg_total_relation_size(inhrelid)), 0) FROM pg_inherits "
        "WHERE inhparent = CAST(:t AS regclass)",
        t=f"monitoring.{table}",
    )
    return int(size)


def seed(url: str, owner: uuid.UUID, count: int, target: str) -> dict[int, float]:
    now = datetime.now(UTC)
    rows = [
        {
            "url": f"{target}/ok?m={i}",
            "next": (now + timedelta(seconds=2 + random.uniform(0, INTERVAL))).isoformat(),
        }
        for i in range(count)
    ]
    sql(
        url,
        "INSERT INTO monitoring.monitors (owner_id, name, kind, url, interval_seconds, "
        "timeout_seconds, failure_threshold, success_threshold, next_check_at) "
        "SELECT :owner, 'bench', 'http', r->>'url', :interval, 5, 3, 2, "
        "(r->>'next')::timestamptz FROM jsonb_array_elements(CAST(:rows AS jsonb)) r",
        owner=owner,
        interval=INTERVAL,
        rows=json.dumps(rows),
    )
    sql(url, "ANALYZE monitoring.monitors")
    return {
        int(seq): at.timestamp() % INTERVAL
        for seq, at in sql(
            url, "SELECT seq, next_check_at FROM monitoring.monitors WHERE owner_id = :o", o=owner
        )
    }


def checks_since(url: str, owner_seqs: list[int], since: float) -> list[tuple[int, float]]:
    rows = sql(
        url,
        "SELECT u.seq, extract(epoch FROM r.at) + u.off / 1000.0 FROM monitoring.results r, "
        "unnest(r.seqs, r.offsets_ms) AS u(seq, off) WHERE r.at >= to_timestamp(:s) "
        "AND u.seq = ANY(:seqs)",
        s=since,
        seqs=owner_seqs,
    )
    return [(int(seq), float(at)) for seq, at in rows]


def drift_p99(checks: list[tuple[int, float]], phases: dict[int, float]) -> float:
    drifts = []
    for seq, at in checks:
        late = (at - phases[seq]) % INTERVAL
        drifts.append(late if late < INTERVAL - 2 else late - INTERVAL)  # early shows negative
    drifts.sort()
    return drifts[int(len(drifts) * 0.99)] if drifts else float("nan")


async def dashboard_ms(url: str, owner: uuid.UUID) -> tuple[float, float]:
    """The list page's data for a 2,000-monitor owner: first page (50) and all 2,000, with
    24h/7d/30d uptime from the rollups (the monitors API is another helper's; its query is
    this DAO list plus results.uptime)."""
    from sqlalchemy import select

    from berth_common.db import Database
    from berth_monitoring.models import SCHEMA, Base, Monitor
    from berth_monitoring.results.service import uptime

    db = Database(url, SCHEMA, metadata=Base.metadata, pool_size=1)
    try:
        await db.ping()  # a web process's pool is warm: time the queries, not the connect
        timings = []
        for limit in (50, 2000):
            start = time.perf_counter()
            async with db.sessionmaker() as session:
                rows = (
                    await session.execute(
                        select(Monitor.id, Monitor.name, Monitor.state, Monitor.last_latency_ms)
                        .where(Monitor.owner_id == owner)
                        .order_by(Monitor.created_at, Monitor.id)
                        .limit(limit)
                    )
                ).all()
                await uptime(session, [r.id for r in rows])
            timings.append((time.perf_counter() - start) * 1000)
        return timings[0], timings[1]
    finally:
        await db.dispose()


def start_celery(platform, name: str, args: list[str]) -> ManagedProcess:
    env = {
        **platform.env_for("monitoring"),
        "MONITORING_CHECK_RUN_SECONDS": "5",
        "LOG_LEVEL": "INFO",  # the worker says " ready." at INFO
    }
    proc = ManagedProcess(
        name,
        [str(BIN / "celery"), "-A", "berth_monitoring.worker", *args],
        env=env,
        log_dir=platform.logs,
        cwd=platform.root,
    ).start()
    platform.processes[name] = proc
    return proc


def start_worker(platform) -> ManagedProcess:
    proc = start_celery(
        platform,
        f"monitoring-worker-{time.monotonic_ns()}",
        ["worker", "-Q", "monitoring", "--concurrency", "2", "-n", f"b{uuid.uuid4().hex[:6]}@%h",
         "--without-mingle", "--without-gossip"],
    )  # fmt: skip
    proc.wait_ready(lambda: b" ready." in proc.log_path.read_bytes(), timeout=60)
    return proc


def overdue(url: str, owner: uuid.UUID) -> int:
    [(n,)] = sql(
        url,
        "SELECT count(*) FROM monitoring.monitors WHERE owner_id = :o AND suppressed IS NULL "
        "AND next_check_at < now() - interval '1 second'",
        o=owner,
    )
    return int(n)


def run_size(platform, url: str, size: int, seconds: int, target: str, panel_owner) -> float:
    owner = uuid.uuid4()
    phases = seed(url, owner, size, target)
    seqs = list(phases)
    worker = start_worker(platform)
    time.sleep(INTERVAL + 5)  # one interval to settle the phases
    before_cpu = cpu_seconds(worker.pid)
    start = time.time()
    panel = []
    while time.time() < start + seconds:
        panel.append(asyncio.run(dashboard_ms(url, panel_owner))[0])
        time.sleep(2)
    end = time.time()
    cpu = cpu_seconds(worker.pid) - before_cpu
    rss = rss_mb(worker.pid)
    checks = [c for c in checks_since(url, seqs, start - 10) if start <= c[1] < end]
    per_min = len(checks) / (end - start) * 60
    print(
        f"{size:>6,} monitors: {per_min:9,.0f} checks/min (due {size * 60 / INTERVAL:,.0f}), "
        f"CPU {cpu * 1000 / max(1, len(checks)):.2f} ms/check, worker RSS {rss:.0f} MiB, "
        f"drift p99 {drift_p99(checks, phases):.2f} s, "
        f"panel first page p50 {statistics.median(panel):.0f} ms while checking",
        flush=True,
    )
    # restart: SIGKILL, 10 s down, start again; until no monitor is more than 1 s overdue
    worker.kill()
    worker.proc.wait(10)
    time.sleep(10)
    worker = start_worker(platform)
    restarted = time.time()
    try:
        wait_until(lambda: overdue(url, owner) == 0, 120, "back on schedule", interval=0.25)
        back = f"{time.time() - restarted:.1f} s"
    except TimeoutError:
        back = f"> 120 s ({overdue(url, owner)} overdue)"
    print(f"        back on schedule after a SIGKILL + 10 s down: {back} after the restart")
    worker.stop()
    sql(url, "UPDATE monitoring.monitors SET suppressed = 'paused' WHERE owner_id = :o", o=owner)
    return cpu * 1000 / max(1, len(checks))


async def baseline(url: str, target: str, count: int, seconds: int) -> dict[str, float]:
    """One check per task's shape: a client, a transaction and a result row per check."""
    engine = create_async_engine(url, pool_size=20)
    async with engine.begin() as conn:
        await conn.execute(
            text(
                "CREATE TABLE IF NOT EXISTS public.bench_naive_results (monitor_id uuid, "
                "at timestamptz, ok boolean, latency_ms integer, status integer, error text)"
            )
        )
        await conn.execute(
            text(
                "CREATE INDEX IF NOT EXISTS bench_naive_idx "
                "ON public.bench_naive_results (monitor_id, at)"
            )
        )
    ids = [uuid.uuid4() for _ in range(count)]
    sem = asyncio.Semaphore(50)
    done = 0

    async def one(monitor_id: uuid.UUID, i: int) -> None:
        nonlocal done
        async with sem:
            started = time.time()
            async with httpx.AsyncClient(timeout=5) as client:
                try:
                    r = await client.get(f"{target}/ok?m={i}")
                    ok, status, error = r.status_code < 400, r.status_code, None
                except httpx.HTTPError as exc:
                    ok, status, error = False, None, str(exc)
            async with engine.begin() as conn:
                await conn.execute(
                    text(
                        "INSERT INTO public.bench_naive_results VALUES (:m, now(), :ok, :l, :s, :e)"
                    ),
                    {"m": monitor_id, "ok": ok, "l": int((time.time() - started) * 1000),
                     "s": status, "e": error},
                )  # fmt: skip
            done += 1

    proc = psutil.Process()
    cpu0 = sum(proc.cpu_times()[:2])
    start = time.time()
    rounds = 0
    while time.time() < start + seconds:
        await asyncio.gather(*(one(m, i) for i, m in enumerate(ids)))
        rounds += 1
    elapsed = time.time() - start
    cpu = sum(proc.cpu_times()[:2]) - cpu0
    async with engine.connect() as conn:
        size = (
            await conn.execute(text("SELECT pg_total_relation_size('public.bench_naive_results')"))
        ).scalar_one()
    await engine.dispose()
    print(
        f"baseline, {count:,} monitors, a client + transaction + row per check: "
        f"{done / elapsed * 60:,.0f} checks/min flat out, CPU {cpu * 1000 / done:.2f} ms/check "
        f"(bench process only), {size / done * 1000 / 1024:.1f} KiB per 1,000 checks"
    )
    return {"CPU ms per check": cpu * 1000 / done, "stored KiB per 1,000 checks": size / done}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", default="2000,5000,10000")
    parser.add_argument("--seconds", type=int, default=60)
    parser.add_argument("--quick", action="store_true", help="500 and 1,000 monitors, 25 s")
    args = parser.parse_args()
    sizes = [500, 1000] if args.quick else [int(s) for s in args.sizes.split(",")]
    seconds = 25 if args.quick else args.seconds
    print(f"cores {psutil.cpu_count()}, load {psutil.getloadavg()[0]:.1f} (shared machine)")
    with bench_platform(ROOT, {"LOG_LEVEL": "WARNING"}) as platform:
        url = platform.env["DATABASE_URL"]
        port = free_port()
        target = ManagedProcess(
            "target",
            [sys.executable, "-m", "berth_testing.monitor_target", "--port", str(port)],
            env=platform.env,
            log_dir=platform.logs,
        ).start()
        platform.processes["target"] = target
        target.wait_ready(lambda: b"ready" in target.log_path.read_bytes(), timeout=20)
        target_url = f"http://127.0.0.2:{port}"
        beat = start_celery(
            platform, "monitoring-beat",
            ["beat", "--schedule", str(platform.work / "beat-schedule"), "--pidfile=",
             "--loglevel", "WARNING"],
        )  # fmt: skip
        # the panel's owner: 2,000 monitors with a day of rollups, never checked (suppressed)
        panel_owner = uuid.uuid4()
        seed(url, panel_owner, 2000, target_url)
        sql(
            url,
            "UPDATE monitoring.monitors SET suppressed = 'paused' WHERE owner_id = :o",
            o=panel_owner,
        )
        sql(
            url,
            "INSERT INTO monitoring.rollup_hours (monitor_id, bucket, checks, up_checks, "
            "latency_sum_ms, latency_max_ms) SELECT m.id, date_trunc('hour', now()) - "
            "h * interval '1 hour', 180, 179, 900, 40 FROM monitoring.monitors m, "
            "generate_series(0, 24 * 7) h WHERE m.owner_id = :o",
            o=panel_owner,
        )
        first, full = asyncio.run(dashboard_ms(url, panel_owner))
        print(
            f"dashboard of a 2,000-monitor owner (idle): first page of 50 {first:.0f} ms, "
            f"all 2,000 with 24h/7d/30d uptime {full:.0f} ms"
        )
        sizes_before = {t: table_bytes(url, t) for t in (*RAW_TABLES, "rollup_minutes")}
        cpu_ms = [run_size(platform, url, size, seconds, target_url, panel_owner) for size in sizes]
        beat.stop()
        # storage: every stored check against the raw tables (and the minute rollups)
        [(stored,)] = sql(url, "SELECT coalesce(sum(cardinality(seqs)), 0) FROM monitoring.results")
        from berth_monitoring.results.service import rollup

        async def roll() -> None:
            from berth_common.db import Database
            from berth_monitoring.models import SCHEMA, Base

            db = Database(url, SCHEMA, metadata=Base.metadata, pool_size=1)
            for _ in range(5):
                async with db.sessionmaker() as session:
                    await rollup(session, now=datetime.now(UTC) + timedelta(minutes=3))
                    await session.commit()  # edge: the bench's own transaction
            await db.dispose()

        asyncio.run(roll())
        grown = {t: table_bytes(url, t) - sizes_before[t] for t in sizes_before}
        raw = sum(grown[t] for t in RAW_TABLES)
        # a minute rollup row is one monitor-hour (180 checks at 20 s once a monitor has run
        # a whole hour); the bench's monitors live minutes, so give its cost per row as well
        [(rows,)] = sql(url, "SELECT count(*) FROM monitoring.rollup_minutes")
        per_row = grown["rollup_minutes"] / max(1, rows)
        steady = per_row / (3600 / INTERVAL) * 1000 / 1024
        raw_kib = raw / max(1, stored) * 1000 / 1024
        print(
            f"storage over {int(stored):,} stored checks: raw results "
            f"{raw_kib:.1f} KiB per 1,000 checks; minute rollups "
            f"{per_row:.0f} bytes per monitor-hour row, so {steady:.1f} KiB per 1,000 checks "
            f"for a monitor checked all hour (hour and day rollups: one row per monitor-hour "
            f"and -day: under 1 KiB per 1,000 checks together)"
        )
        naive = asyncio.run(baseline(url, target_url, 1000, seconds))
        naive["stored KiB per 1,000 checks"] *= 1000 / 1024
        print_beside(
            f"the checker at {sizes[0]:,} monitors (worker CPU) beside the baseline's shape "
            "(1,000 monitors flat out, bench process CPU)",
            {"CPU ms per check": cpu_ms[0], "stored KiB per 1,000 checks": raw_kib},
            naive,
            "baseline",
        )


if __name__ == "__main__":
    main()
