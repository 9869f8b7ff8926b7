"""A monitoring worker SIGKILLed mid-batch (slow targets in flight): the batch's transaction
dies with it, its monitors stay due, and after a restart no monitor has gone more than one
interval without a recorded check; every monitor is back on its own phase within one interval.

Real processes: the platform's monitoring worker and beat (the Procfile's commands), a target
on 127.0.0.2. Run alone with BERTH_E2E_SERVICES=monitoring to start only what it needs.
"""

import asyncio
import itertools
import json
import random
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from berth_testing.monitor_target import ThreadedTarget
from berth_testing.platform import BIN
from berth_testing.processes import ManagedProcess, wait_until

INTERVAL = 12
FAST, SLOW = 40, 12
RUN_SECONDS = "2"  # beat starts a checker run every 2 s


def sql(database_url: str, statement: str, **params) -> list:
    async def run() -> list:
        engine = create_async_engine(database_url)
        try:
            async with engine.begin() as conn:
                result = await conn.execute(text(statement), params)
                return list(result.all()) if result.returns_rows else []
        finally:
            await engine.dispose()

    return asyncio.run(run())


def start(platform, name: str, args: list[str], work: Path) -> ManagedProcess:
    env = {**platform.env_for("monitoring"), "MONITORING_CHECK_RUN_SECONDS": RUN_SECONDS}
    proc = ManagedProcess(
        name, [str(BIN / "celery"), "-A", "berth_monitoring.worker", *args], env=env,
        log_dir=work, cwd=platform.root,
    ).start()  # fmt: skip
    platform.processes[name] = proc
    return proc


def start_worker(platform, work: Path) -> ManagedProcess:
    proc = start(
        platform,
        f"monitoring-checker-{time.monotonic_ns()}",
        ["worker", "-Q", "monitoring", "--concurrency", "2", "-n", f"mon-{uuid.uuid4().hex[:6]}@%h",
         "--without-mingle", "--without-gossip"],
        work,
    )  # fmt: skip
    proc.wait_ready(lambda: b" ready." in proc.output(), timeout=60)
    return proc


def checks_by_monitor(db: str, seqs: list[int], since: datetime) -> dict[int, list[float]]:
    rows = sql(
        db,
        "SELECT u.seq, extract(epoch FROM r.at) + u.off / 1000.0 FROM monitoring.results r, "
        "unnest(r.seqs, r.offsets_ms) AS u(seq, off) WHERE r.at >= :since AND u.seq = ANY(:s)",
        since=since,
        s=seqs,
    )
    found: dict[int, list[float]] = {seq: [] for seq in seqs}
    for seq, at in rows:
        found[seq].append(float(at))
    return {seq: sorted(times) for seq, times in found.items()}


def test_a_worker_killed_mid_batch_skips_no_monitor_more_than_one_interval(
    platform, berth_env, tmp_path, request
):
    db = berth_env["DATABASE_URL"]
    old = platform.processes.pop("monitoring-worker", None)
    if old is not None:
        old.stop()
    owner = uuid.uuid4()

    def restore() -> None:
        # the later tests get the platform's monitoring worker back, without these monitors
        sql(db, "DELETE FROM monitoring.monitors WHERE owner_id = :o", o=owner)
        platform.start_worker("monitoring", concurrency=2)

    request.addfinalizer(restore)
    with ThreadedTarget() as target:
        now = datetime.now(UTC)
        phases: dict[uuid.UUID, float] = {}
        rows = []
        for i in range(FAST + SLOW):
            monitor_id = uuid.uuid4()
            first = now + timedelta(seconds=3 + random.uniform(0, INTERVAL))
            phases[monitor_id] = first.timestamp() % INTERVAL
            path = f"/ok?m={i}" if i < FAST else f"/slow?d=4&m={i}"
            rows.append({"id": monitor_id, "url": target.url(path), "next": first})
        sql(
            db,
            "INSERT INTO monitoring.monitors (id, owner_id, name, kind, url, interval_seconds, "
            "timeout_seconds, failure_threshold, success_threshold, next_check_at) "
            "SELECT (r->>'id')::uuid, :owner, 'kill-test', 'http', r->>'url', :interval, 8, 3, 2, "
            "(r->>'next')::timestamptz FROM jsonb_array_elements(CAST(:rows AS jsonb)) r",
            owner=owner,
            interval=INTERVAL,
            rows=json.dumps(
                [{"id": str(r["id"]), "url": r["url"], "next": r["next"].isoformat()} for r in rows]
            ),
        )
        seqs = dict(sql(db, "SELECT seq, id FROM monitoring.monitors WHERE owner_id = :o", o=owner))
        beat = start(
            platform, "monitoring-beat-test",
            ["beat", "--schedule", str(tmp_path / "beat-schedule"), "--pidfile="], tmp_path,
        )  # fmt: skip
        try:
            victim = start_worker(platform, tmp_path)
            started = time.time()
            # a full interval of checks, then wait for a slow check in flight and kill
            wait_until(lambda: time.time() > started + INTERVAL + 2, INTERVAL + 10, "warm-up")
            seen = len(target.server.requests)
            wait_until(
                lambda: any("/slow" in p for _, p in target.server.requests[seen:]),
                30,
                "a slow check in flight",
                interval=0.05,
            )
            time.sleep(0.5)
            victim.kill()  # SIGKILL to the worker's process group, mid-batch
            victim.proc.wait(10)
            killed_at = time.time()
            # the batch holding the slow checks never committed: those monitors are still due
            [(due,)] = sql(
                db,
                "SELECT count(*) FROM monitoring.monitors WHERE owner_id = :o "
                "AND next_check_at <= now()",
                o=owner,
            )
            assert due >= 1

            restarted = start_worker(platform, tmp_path)
            restarted_at = time.time()
            time.sleep(2 * INTERVAL + 6)
            observed_until = time.time() - 2
            restarted.stop()
        finally:
            beat.stop()

    checks = checks_by_monitor(db, list(seqs), datetime.fromtimestamp(started, UTC))
    allowed = 2 * INTERVAL + 2  # one slot lost at most (+ a check's own jitter)
    worst = {}
    for seq, times in checks.items():
        assert times, f"monitor {seq} was never checked"
        # from the end of the warm-up (every monitor checked once by then) to the end
        points = [started + INTERVAL, *(t for t in times if t > started + INTERVAL)]
        points.append(observed_until)
        worst[seq] = max(b - a for a, b in itertools.pairwise(points))
    assert max(worst.values()) <= allowed, (
        f"killed at +{killed_at - started:.1f}s, restarted +{restarted_at - started:.1f}s; "
        f"worst gaps {sorted(worst.values())[-5:]}"
    )
    # back on schedule within one interval of the restart: each monitor's later checks
    # start within 2 s after a slot of its own phase
    for seq, times in checks.items():
        monitor_id = seqs[seq]
        for at in (t for t in times if t > restarted_at + INTERVAL):
            lateness = (at - phases[monitor_id]) % INTERVAL
            assert lateness < 2.0 or lateness > INTERVAL - 0.5, (seq, lateness)
    print(f"worst gap {max(worst.values()):.1f}s of {allowed}s allowed", file=sys.stderr)
