"""The checker: due monitors claimed in batches, checked concurrently, recorded per batch.

One RUN_CHECKS task keeps going for `check_run_seconds`: a few claimers each take up to
`check_batch_size` due monitors (`FOR UPDATE SKIP LOCKED`), check them all at once (the
Prober's semaphore bounds what is in flight), and in the same transaction store the batch's
results (one row of arrays, one row per failure), move each monitor's state, open or close
incidents, queue alerts and advance `next_check_at`. So:

- two workers or two overlapping runs never check a monitor twice for one slot (the row is
  locked by the first claim, and once committed it is no longer due);
- a worker killed mid-batch commits nothing: the rows unlock, are still due, and the next
  claimer (within one tick) checks them; at most one interval of a monitor is lost;
- the schedule keeps each monitor's phase: next = due + k * interval, the smallest k that lands
  in the future, so a late check never drifts the slots and a restart never bunches them.
"""

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from loguru import logger
from sqlalchemy.ext.asyncio import AsyncSession

from berth_monitoring.alerts.service import notify, reminder_slot
from berth_monitoring.checks import dao, incidents
from berth_monitoring.checks.probes import CheckTarget, Outcome, Prober
from berth_monitoring.checks.state import MonitorStatus, step
from berth_monitoring.config import MonitoringSettings
from berth_monitoring.enums import MonitorState, NotificationEvent
from berth_monitoring.models import Monitor
from berth_monitoring.results.codes import OK, OUTCOME_CODES
from berth_monitoring.results.dao import ResultsDAO

InTransaction = Callable[..., Awaitable[Any]]
CLAIMERS = 3  # batches in flight per run (each holds one database connection)
# a claim takes what falls due within LOOKAHEAD and each check waits for its own moment, so
# checks start on their slot and a batch gathers LOOKAHEAD's worth of monitors
LOOKAHEAD = timedelta(seconds=1)
IDLE_POLL_SECONDS = 0.5
SMALLINT_MAX = 32767
OVERRUN_SECONDS = 30.0


def next_slot(due: datetime, interval_seconds: int, now: datetime) -> datetime:
    """The first slot of this monitor's phase after `now` (due + k * interval, k >= 1)."""
    interval = timedelta(seconds=interval_seconds)
    if due > now:
        return due + interval
    k = (now - due) // interval + 1
    return due + k * interval


@dataclass
class RunStats:
    checks: int = 0
    batches: int = 0
    failures: int = 0
    drift_ms: list[int] = field(default_factory=list)


def _target(row: Any) -> CheckTarget:
    return CheckTarget(
        id=row.id,
        seq=row.seq,
        kind=row.kind,
        url=row.url,
        host=row.host,
        port=row.port,
        http=row.http or {},
        timeout_seconds=row.timeout_seconds,
        interval_seconds=row.interval_seconds,
        grace_seconds=row.grace_seconds,
        last_beat_at=row.last_beat_at,
        created_at=row.created_at,
        app_id=row.app_id,
    )


def _muted(row: Any, now: datetime, windows: dict[uuid.UUID, list[set[uuid.UUID] | None]]) -> bool:
    if row.muted_until is not None and row.muted_until > now:
        return True
    return any(ids is None or row.id in ids for ids in windows.get(row.owner_id, ()))


async def check_batch(session: AsyncSession, *, prober: Prober, limit: int, stats: RunStats) -> int:
    """Claim, check and record one batch in this transaction; the number of monitors checked."""
    rows = await dao.claim_due(session, limit, LOOKAHEAD)
    if not rows:
        return 0
    outcomes: list[Outcome] = await asyncio.gather(
        *(prober.check(_target(r), not_before=r.next_check_at) for r in rows)
    )
    now = datetime.now(UTC)
    windows = await dao.maintenance_now(session, {r.owner_id for r in rows}, now)

    base = min(outcome.started for outcome in outcomes)
    columns: dict[str, list[int]] = {"seqs": [], "offsets_ms": [], "latency_ms": [], "outcomes": []}
    failures: list[dict[str, Any]] = []
    updates: list[dict[str, Any]] = []
    effects: list[tuple[str, Any, dict[str, Any], Outcome]] = []
    epoch = int(now.timestamp())
    for row, outcome in zip(rows, outcomes, strict=True):
        checked_at = datetime.fromtimestamp(outcome.started, UTC)
        stats.drift_ms.append(int((checked_at - row.next_check_at).total_seconds() * 1000))
        code = OK if outcome.ok else OUTCOME_CODES[outcome.error_kind]  # type: ignore[index]
        columns["seqs"].append(row.seq)
        columns["offsets_ms"].append(min(SMALLINT_MAX, int((outcome.started - base) * 1000)))
        columns["latency_ms"].append(min(SMALLINT_MAX, outcome.latency_ms))
        columns["outcomes"].append(code)
        if not outcome.ok:
            stats.failures += 1
            failures.append(
                {
                    "monitor_seq": row.seq,
                    "at": checked_at,
                    "error_kind": str(outcome.error_kind),
                    "status": outcome.status,
                    "reason": outcome.reason or str(outcome.error_kind),
                }
            )
        muted = _muted(row, now, windows)
        moved = step(
            MonitorStatus(
                state=MonitorState(row.state),
                consecutive_failures=row.consecutive_failures,
                consecutive_successes=row.consecutive_successes,
                recent_transitions=tuple(row.recent_transitions or ()),
                flapping=row.flapping,
            ),
            ok=outcome.ok,
            now=epoch,
            failure_threshold=row.failure_threshold,
            success_threshold=row.success_threshold,
            muted=muted,
        )
        new = moved.status
        update = {
            "id": row.id,
            "next_check_at": next_slot(row.next_check_at, row.interval_seconds, now),
            "state": str(new.state),
            "state_changed_at": now if moved.changed else row.state_changed_at,
            "consecutive_failures": new.consecutive_failures,
            "consecutive_successes": new.consecutive_successes,
            "recent_transitions": list(new.recent_transitions),
            "flapping": new.flapping,
            "last_checked_at": checked_at,
            "last_ok": outcome.ok,
            "last_latency_ms": outcome.latency_ms,
            "last_error_kind": None if outcome.ok else str(outcome.error_kind),
            "last_error": None if outcome.ok else (outcome.reason or "")[:500],
            "cert_expires_at": outcome.cert_expires_at or row.cert_expires_at,
            "open_incident_id": row.open_incident_id,
            "last_alert_at": row.last_alert_at,
        }
        updates.append(update)
        effect = _effect(row, moved, muted, now)
        if effect is not None:
            effects.append((effect, row, update, outcome))

    await dao.store_results(session, datetime.fromtimestamp(base, UTC), columns, failures)
    if effects:
        effects.sort(key=lambda e: (str(e[1].owner_id), str(e[1].id)))
        await _apply_effects(session, effects, now)
    await dao.write_monitors(session, updates)
    stats.checks += len(rows)
    stats.batches += 1
    return len(rows)


def _effect(row: Any, moved: Any, muted: bool, now: datetime) -> str | None:
    """What a result owes beyond the row: flapping noted, an incident joined or left, alerts.

    Reconciled from the state rather than from the edge, so a mute or a flap that held a
    transition back lets it through at the first check after it ends."""
    new = moved.status
    if muted:
        return None
    if moved.flapping_started:
        return "flapping"
    if new.flapping:
        return None
    if new.state == MonitorState.DOWN and row.open_incident_id is None:
        return "down"
    if new.state == MonitorState.UP and row.open_incident_id is not None:
        return "recovered"
    if (
        new.state == MonitorState.DOWN
        and row.resend_minutes > 0
        and row.last_alert_at is not None
        and now - row.last_alert_at >= timedelta(minutes=row.resend_minutes)
    ):
        return "reminder"
    return None


async def _apply_effects(
    session: AsyncSession, effects: list[tuple[str, Any, dict[str, Any], Outcome]], now: datetime
) -> None:
    for effect, row, update, outcome in effects:
        monitor = await session.get(Monitor, row.id)
        if monitor is None:
            continue
        detail = outcome.reason
        if effect == "flapping":
            incident = await incidents.note_flapping(
                session, monitor, now, "state changed too often; alerts are held back"
            )
            update["open_incident_id"] = incident.id
        elif effect == "down":
            incident = await incidents.join_or_open(
                session, monitor, now, detail, f"{monitor.name} is down"
            )
            await notify(session, monitor, incident, NotificationEvent.DOWN, detail)
            update["open_incident_id"] = incident.id
            update["last_alert_at"] = now
        elif effect == "recovered":
            incident = await incidents.leave(session, monitor, row.open_incident_id, now)
            if incident is not None:
                await notify(session, monitor, incident, NotificationEvent.RECOVERED, None)
            update["open_incident_id"] = None
            update["last_alert_at"] = now
        elif effect == "reminder":
            incident = await session.get(incidents.Incident, row.open_incident_id)
            if incident is not None and reminder_slot(monitor, now) > 0:
                await notify(session, monitor, incident, NotificationEvent.REMINDER, detail)
            update["last_alert_at"] = now
        # the ORM copy was only read; the batch's UPDATE writes the row
        session.expunge(monitor)


async def run_checks(
    in_transaction: InTransaction,
    settings: MonitoringSettings,
    prober: Prober,
    *,
    run_seconds: float | None = None,
) -> RunStats:
    """Check what falls due for `run_seconds`, with CLAIMERS batches in flight."""
    stats = RunStats()
    deadline = time.monotonic() + (
        run_seconds if run_seconds is not None else settings.check_run_seconds
    )
    today = datetime.now(UTC).date()
    await in_transaction(lambda session: ResultsDAO(session).ensure_partitions(today, 2))

    in_flight = 0

    def keep_claiming() -> bool:
        # past its deadline a run still claims while one of its batches waits on slow checks:
        # that batch keeps this worker process busy, and the next run may not have started yet
        now = time.monotonic()
        return now < deadline or (in_flight > 0 and now < deadline + OVERRUN_SECONDS)

    async def claimer() -> None:
        nonlocal in_flight
        while keep_claiming():
            in_flight += 1
            try:
                checked = await in_transaction(
                    check_batch, prober=prober, limit=settings.check_batch_size, stats=stats
                )
            except Exception as exc:
                # the batch rolled back: its monitors are still due and the next claim retries
                logger.opt(exception=exc).error("a check batch failed and was rolled back")
                checked = 0
                await asyncio.sleep(1)
            finally:
                in_flight -= 1
            if checked == 0:
                await asyncio.sleep(IDLE_POLL_SECONDS)

    await asyncio.gather(*(claimer() for _ in range(CLAIMERS)))
    return stats
