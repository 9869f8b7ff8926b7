"""Usage intervals from deploy's instance events, and the hourly charge run.

Charging an hour is one statement: INSERT ... SELECT ... over every interval that overlaps it
and has no charge for it yet, whose returned rows become the hour's journal transaction and its
entries (one per wallet: the sum of its new charges, which carry the transaction's id and are
the entry's per-instance detail), in one transaction: a run killed half-way leaves nothing, a
rerun charges only what is missing, a second run charges nothing. A later pass over an hour
only looks at intervals changed since the last pass began (late or out-of-order events).
"""

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from loguru import logger
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from berth_billing.accounts.dao import AccountDAO
from berth_billing.config import BillingSettings
from berth_billing.enums import AccountKind
from berth_billing.hours import hour_floor
from berth_billing.metering.dao import MeteringDAO
from berth_billing.metering.models import MeteringRun
from berth_billing.names import QUEUE, Task
from berth_common.errors import Unprocessable
from berth_common.outbox import enqueue_task

# a pass over an hour already charged looks at intervals changed since the previous pass
# began, less this margin (a transaction that committed just after that pass read its data)
RESCAN_MARGIN = timedelta(minutes=10)


def _when(value: Any) -> datetime | None:
    if value in (None, ""):
        return None
    parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


async def record_instance_event(
    session: AsyncSession, settings: BillingSettings, key: str, payload: dict[str, Any]
) -> bool:
    """Fold one deploy.instance.* event into its instance's interval; False if unusable."""
    try:
        instance_id = uuid.UUID(str(payload["instance_id"]))
        owner_id = uuid.UUID(str(payload["owner_id"]))
        plan_key = str(payload["plan_key"])[:48]
        app_id = uuid.UUID(str(payload["app_id"])) if payload.get("app_id") else None
        if key == "deploy.instance.started":
            started, stopped = _when(payload["started_at"]), None
        else:
            started, stopped = None, _when(payload["stopped_at"])
    except (KeyError, ValueError, TypeError):
        logger.warning("unusable {} event dropped", key)
        return False
    wallet = await AccountDAO(session).ensure_wallet(owner_id, settings.currency)
    reason = None if stopped is None else str(payload.get("reason") or key.rsplit(".", 1)[1])
    await MeteringDAO(session).upsert_interval(
        instance_id=instance_id,
        app_id=app_id,
        app_slug=(str(payload["app_slug"])[:120] if payload.get("app_slug") else None),
        owner_id=owner_id,
        account_id=wallet.id,
        plan_key=plan_key,
        started_at=started,
        stopped_at=stopped,
        stop_reason=reason[:64] if reason else None,
    )
    return True


def closed_hour(hour: datetime, now: datetime | None = None) -> datetime:
    """`hour` as a UTC full hour that has ended, or Unprocessable."""
    if hour.tzinfo is None:
        raise Unprocessable("The hour needs a time zone (e.g. 2025-01-31T13:00:00Z)")
    hour = hour.astimezone(UTC)
    if hour != hour_floor(hour):
        raise Unprocessable("Metering runs over full hours (minutes and seconds zero)")
    if hour + timedelta(hours=1) > (now or datetime.now(UTC)):
        raise Unprocessable("Only an hour that has ended can be charged")
    return hour


def wallet_ranges(shards: int) -> list[tuple[uuid.UUID, uuid.UUID | None]]:
    """`shards` ranges [low, high) of wallet ids of equal width, the last one unbounded: wallet
    ids are random (v4), so each range holds about as many wallets."""
    bounds = [uuid.UUID(int=(n << 128) // shards) for n in range(shards)]
    return list(zip(bounds, [*bounds[1:], None], strict=True))


async def charge_hour(
    session: AsyncSession,
    hour: datetime,
    *,
    triggered_by: str,
    full: bool = False,
    shards: int = 1,
) -> MeteringRun:
    """Charge every instance-hour of `hour` not charged yet; returns the run's record."""
    hour = closed_hour(hour)
    dao = MeteringDAO(session)
    # the shards' own sessions: the caller's engine and service (the outbox reads its info)
    sessions = async_sessionmaker(session.bind, expire_on_commit=False, info=session.info)
    if shards > 1:  # the shards' transactions must see them: opened and committed first
        async with sessions() as own, own.begin():  # edge: committed before the shards read
            await _open_revenue_accounts(own, shards)
    await dao.lock_hour(hour)  # a concurrent run over the hour commits (or fails) first
    previous = None if full else await dao.last_finished_run(hour)
    changed_since = previous.started_at - RESCAN_MARGIN if previous else None
    run = MeteringRun(hour=hour, triggered_by=triggered_by, started_at=datetime.now(UTC))
    session.add(run)
    await session.flush()
    key = f"usage:{hour:%Y-%m-%dT%H}:{run.id}"
    caused_by = f"system:metering ({triggered_by})"[:120]
    ranges = wallet_ranges(shards)

    async def charge_shard(shard_session: AsyncSession, n: int) -> list:
        totals = await MeteringDAO(shard_session).charge(
            hour,
            hour + timedelta(hours=1),
            changed_since,
            ranges[n],
            revenue_shard=n,
            txn=uuid.uuid4(),
            key=key if shards == 1 else f"{key}:{n}",
            description=f"Usage {hour:%Y-%m-%d %H}:00-{hour.hour + 1:02d}:00 UTC",
            caused_by=caused_by,
        )
        if totals:
            await enqueue_task(shard_session, Task.CHECK_ACCOUNTS, queue=QUEUE, kwargs={})
        return totals

    async def own_transaction(n: int) -> list:
        async with sessions() as own, own.begin():  # edge: each shard commits on its own
            return await charge_shard(own, n)

    if shards == 1:
        await _open_revenue_accounts(session, 1)
        totals = await charge_shard(session, 0)
    else:  # a shard that fails cancels the others; none outlives the hour's lock
        try:
            async with asyncio.TaskGroup() as group:
                tasks = [group.create_task(own_transaction(n)) for n in range(shards)]
        except ExceptionGroup as failed:  # the error itself, which the task's retries know
            raise failed.exceptions[0] from failed
        totals = [row for task in tasks for row in task.result()]
    run.charges = sum(r.charges for r in totals)
    run.amount = sum(r.amount for r in totals)
    run.finished_at = datetime.now(UTC)
    await session.flush()
    logger.info("metering {:%Y-%m-%dT%H}: {} charge(s), {}", hour, run.charges, run.amount)
    return run


async def _open_revenue_accounts(session: AsyncSession, shards: int) -> None:
    accounts = AccountDAO(session)
    for currency in await MeteringDAO(session).price_currencies():
        await accounts.system_accounts(AccountKind.REVENUE, currency, set(range(shards)))


def due_hours(now: datetime, lookback_hours: int) -> list[datetime]:
    last_closed = hour_floor(now) - timedelta(hours=1)
    return [last_closed - timedelta(hours=n) for n in range(lookback_hours - 1, -1, -1)]


async def enqueue_due(session: AsyncSession, settings: BillingSettings) -> int:
    """Beat: one charge task per closed hour of the look-back window (reruns are no-ops)."""
    hours = due_hours(datetime.now(UTC), settings.metering_lookback_hours)
    for hour in hours:
        await enqueue_task(
            session,
            Task.CHARGE_HOUR,
            queue=QUEUE,
            kwargs={"hour": hour.isoformat(), "triggered_by": "beat"},
        )
    return len(hours)


async def enqueue_range(
    session: AsyncSession, first: datetime, hours: int, triggered_by: str, full: bool
) -> list[str]:
    """Admin: (re)charge `hours` closed hours from `first`; one task per hour."""
    task_ids = []
    for n in range(hours):
        hour = closed_hour(first + timedelta(hours=n))
        task_ids.append(
            await enqueue_task(
                session,
                Task.CHARGE_HOUR,
                queue=QUEUE,
                kwargs={"hour": hour.isoformat(), "triggered_by": triggered_by, "full": full},
            )
        )
    return task_ids
