"""Metering's set-based statements: interval upserts and one charge statement per hour."""

import uuid
from datetime import UTC, datetime

from sqlalchemy import ColumnElement, DateTime, any_, bindparam, func, select, text
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.dialects.postgresql import insert as pg_insert

from berth_billing.enums import EntryKind
from berth_billing.hours import full_hours, hour_floor
from berth_billing.metering.models import MeteringRun, UsageCharge, UsageInterval
from berth_common.dao import BaseDAO
from berth_common.pagination import PageParams

# One statement charges an hour, or one shard of it (the wallets in [:low, :high)): every
# instance-hour overlapping [:hour, :hour_end) at the price valid at :hour, prorated by started
# minute (ceil of the seconds / 60), amount rounded half up: (price * min + 30) / 60; what was
# charged before is skipped by a lookup of the charges' key (hour, account_id, instance_id),
# which stays the unique constraint that no instance-hour is charged twice (ON CONFLICT DO NOTHING
# cost a speculative insertion per row: an extra probe of the key, an extra WAL record; runs over
# one hour take the hour's lock, METERING_LOCK, first, so the lookup of a run sees every charge
# of the runs before it). When the shard's wallets have no charge of the hour at all (the
# hour's first run: CHARGED_IN_RANGE, one probe of the key), the statement goes without the
# lookup (FIRST_CHARGE_HOUR). The same statement writes the journal transaction (when something
# costs money) and its entries: ONE debit per wallet, the sum of that wallet's new charges (each
# charge keeps its transaction id: a wallet's charges of a transaction are its entry's detail),
# and the total credited to the shard's own revenue account per currency (shards never wait on
# one revenue row). So the ledger grows by a row per wallet-hour, not per instance-hour. The new
# charges are read once, as the INSERT returns them, not looked up again; the revenue accounts
# must exist before. Charges are written in key order, after every earlier hour: the index
# takes them page after page at its end.
CHARGES = """
    WITH prices AS (
        SELECT DISTINCT ON (plan_key) plan_key, amount_per_hour, currency
        FROM billing.plan_prices
        WHERE valid_from <= :hour
        ORDER BY plan_key, valid_from DESC
    ), spans AS (
        SELECT i.instance_id, i.account_id, i.app_id, i.app_slug, i.plan_key,
               CAST(ceil(extract(epoch FROM
                   LEAST(COALESCE(i.stopped_at, CAST('infinity' AS timestamptz)), :hour_end)
                   - GREATEST(i.started_at, :hour)) / 60.0) AS integer) AS minutes
        FROM billing.usage_intervals i
        WHERE i.started_at IS NOT NULL
          AND i.started_at < :hour_end
          AND (i.stopped_at IS NULL OR i.stopped_at > :hour)
          AND (CAST(:changed_since AS timestamptz) IS NULL
               OR i.updated_at >= CAST(:changed_since AS timestamptz))
          AND i.account_id >= CAST(:low AS uuid)
          AND (CAST(:high AS uuid) IS NULL OR i.account_id < CAST(:high AS uuid))
    ), charged AS (
        INSERT INTO billing.usage_charges
            (instance_id, hour, account_id, app_id, app_slug, plan_key, minutes, unit_price,
             amount, currency, transaction_id)
        SELECT s.instance_id, CAST(:hour AS timestamptz), s.account_id, s.app_id, s.app_slug,
               s.plan_key, s.minutes,
               p.amount_per_hour, (p.amount_per_hour * s.minutes + 30) / 60, p.currency,
               CASE WHEN (p.amount_per_hour * s.minutes + 30) / 60 > 0 THEN CAST(:txn AS uuid) END
        FROM spans s JOIN prices p ON p.plan_key = s.plan_key
        WHERE s.minutes > 0{unless_charged}
        ORDER BY s.account_id, s.instance_id
        RETURNING account_id, app_id, app_slug, plan_key, minutes, amount, currency,
                  transaction_id
    )"""
# what each wallet's new charges of the hour add up to: its one entry
WALLET_TOTALS = """, wallets AS (
        SELECT c.account_id, c.currency, count(*) AS charges, sum(c.amount) AS amount,
               sum(c.minutes) AS minutes,
               min(COALESCE(c.app_slug, CAST(c.app_id AS text), 'app')) AS app,
               min(c.plan_key) AS plan_key
        FROM charged c
        WHERE c.transaction_id IS NOT NULL
        GROUP BY c.account_id, c.currency
    )"""
POSTING = """, journal AS (
        INSERT INTO billing.ledger_transactions
            (id, kind, key, description, caused_by, occurred_at)
        SELECT CAST(:txn AS uuid), :kind, :key, :description, :caused_by,
               CAST(:hour AS timestamptz)
        WHERE EXISTS (SELECT 1 FROM wallets)
        RETURNING id
    ), revenue AS (
        SELECT t.currency, t.total, r.id AS account_id
        FROM (SELECT currency, sum(amount) AS total FROM wallets GROUP BY currency) t
        JOIN billing.accounts r
          ON r.kind = 'revenue' AND r.owner_id IS NULL AND r.shard = :revenue_shard
         AND r.currency = t.currency
    ), entries AS (
        INSERT INTO billing.ledger_entries
            (transaction_id, account_id, amount, currency, kind, memo, occurred_at)
        SELECT j.id, w.account_id, -w.amount, w.currency, :kind,
               CASE WHEN w.charges = 1
                    THEN format('%s · %s · %s min', w.app, w.plan_key, w.minutes)
                    ELSE format('%s instances · %s min', w.charges, w.minutes) END,
               CAST(:hour AS timestamptz)
        FROM wallets w CROSS JOIN journal j
        UNION ALL
        SELECT j.id, r.account_id, r.total, r.currency, :kind, 'usage revenue',
               CAST(:hour AS timestamptz)
        FROM revenue r CROSS JOIN journal j
    )
    SELECT currency, CAST(sum(charges) AS bigint) AS charges,
           CAST(COALESCE(sum(amount), 0) AS bigint) AS amount
    FROM wallets GROUP BY currency
    """
# what was charged before: an anti-join on the hour's part of the key (index scans only, see
# CHARGE_BY_KEY; the planner picks a probe per instance or one pass over the hour's range)
UNLESS_CHARGED = """
          AND NOT EXISTS (SELECT 1 FROM billing.usage_charges u
                          WHERE u.hour = :hour AND u.account_id = s.account_id
                            AND u.instance_id = s.instance_id)"""
CHARGE_HOUR = text(CHARGES.format(unless_charged=UNLESS_CHARGED) + WALLET_TOTALS + POSTING)
FIRST_CHARGE_HOUR = text(CHARGES.format(unless_charged="") + WALLET_TOTALS + POSTING)
# does any wallet of [:low, :high) have a charge of :hour? (a range of the key)
CHARGED_IN_RANGE = text("""
    SELECT EXISTS (SELECT 1 FROM billing.usage_charges
                   WHERE hour = :hour AND account_id >= CAST(:low AS uuid)
                     AND (CAST(:high AS uuid) IS NULL OR account_id < CAST(:high AS uuid)))
""")

PRICE_CURRENCIES = text("SELECT DISTINCT currency FROM billing.plan_prices")

# One run over an hour at a time (until its transaction ends): key (namespace, hour number).
METERING_LOCK = text("SELECT pg_advisory_xact_lock(1835365490, CAST(:n AS integer))")
# The charge statement sorts, hashes and keeps (as the INSERT returns them) one row per
# instance: 1M rows are some 200 MB, which at the default 4 MB work_mem went to temporary
# files (written, then read back); for this statement's transaction only.
CHARGE_WORK_MEM = text("SET LOCAL work_mem = '256MB'")
# What was charged before is read through the key only. Left to the statistics, a
# usage_charges the planner last saw empty (a new installation, or shards that all start
# before any of them commits) was read by a sequential scan per instance, of pages that other
# shards were filling meanwhile: hours instead of seconds, measured. Without sequential scans
# every plan left is a probe of the key per instance or one pass over the hour's part of it,
# whatever the estimate; for this transaction only.
CHARGE_BY_KEY = text("SET LOCAL enable_seqscan = off")


class MeteringDAO(BaseDAO[MeteringRun]):
    """Runs, intervals and charges: metering's rows move together, one hour at a time."""

    model = MeteringRun
    default_sort = (MeteringRun.started_at.desc(),)

    async def recent_runs(self, hour: datetime | None, limit: int) -> list[MeteringRun]:
        """The latest runs, newest first; only those over `hour` when given."""
        stmt = self._order(self.base_query(), None).limit(limit)
        if hour is not None:
            stmt = stmt.where(MeteringRun.hour == hour)
        return list((await self.session.execute(stmt)).scalars())

    async def upsert_interval(self, **values) -> None:
        stmt = pg_insert(UsageInterval).values(**values, updated_at=func.now())
        table = UsageInterval.__table__
        excluded = stmt.excluded
        stmt = stmt.on_conflict_do_update(
            index_elements=["instance_id"],
            set_={
                # either event may come first or twice: the earliest start and stop win
                "started_at": func.least(table.c.started_at, excluded.started_at),
                "stopped_at": func.least(table.c.stopped_at, excluded.stopped_at),
                "stop_reason": func.coalesce(table.c.stop_reason, excluded.stop_reason),
                "app_slug": func.coalesce(excluded.app_slug, table.c.app_slug),
                "app_id": func.coalesce(table.c.app_id, excluded.app_id),
                "updated_at": func.now(),
            },
        )
        await self.session.execute(stmt)

    async def last_finished_run(self, hour: datetime) -> MeteringRun | None:
        stmt = (
            select(MeteringRun)
            .where(MeteringRun.hour == hour, MeteringRun.finished_at.is_not(None))
            .order_by(MeteringRun.started_at.desc())
            .limit(1)
        )
        return (await self.session.execute(stmt)).scalars().first()

    async def lock_hour(self, hour: datetime) -> None:
        """Wait for any other run over `hour` to end; held until this transaction ends."""
        await self.session.execute(METERING_LOCK, {"n": int(hour.timestamp()) // 3600})

    async def price_currencies(self) -> list[str]:
        return list((await self.session.execute(PRICE_CURRENCIES)).scalars())

    async def charge(
        self,
        hour: datetime,
        hour_end: datetime,
        changed_since: datetime | None,
        wallets: tuple[uuid.UUID, uuid.UUID | None],
        *,
        revenue_shard: int,
        txn: uuid.UUID,
        key: str,
        description: str,
        caused_by: str,
    ) -> list:
        """Charge and post the hour for the wallets in [low, high) (high None: no bound);
        per currency: (currency, charges, amount) posted."""
        await self.session.execute(CHARGE_WORK_MEM)
        await self.session.execute(CHARGE_BY_KEY)
        bounds = {"hour": hour, "low": wallets[0], "high": wallets[1]}
        charged = (await self.session.execute(CHARGED_IN_RANGE, bounds)).scalar_one()
        result = await self.session.execute(
            CHARGE_HOUR if charged else FIRST_CHARGE_HOUR,
            {
                "hour": hour,
                "hour_end": hour_end,
                "changed_since": changed_since,
                "low": wallets[0],
                "high": wallets[1],
                "revenue_shard": revenue_shard,
                "txn": txn,
                "kind": EntryKind.USAGE,
                "key": key,
                "description": description,
                "caused_by": caused_by,
            },
        )
        return list(result.all())

    async def finished_hours(self, since: datetime, until: datetime) -> set[datetime]:
        stmt = select(MeteringRun.hour).where(
            MeteringRun.hour >= since,
            MeteringRun.hour < until,
            MeteringRun.finished_at.is_not(None),
        )
        return set((await self.session.execute(stmt)).scalars())


def in_hours(hours: list[datetime]) -> ColumnElement[bool]:
    """`hour = ANY(:hours)`: the key's leading column, one descent of the key per hour (a
    range of hours would read every wallet's charges of those hours)."""
    return UsageCharge.hour == any_(bindparam(None, hours, type_=ARRAY(DateTime(timezone=True))))


class UsageChargeDAO(BaseDAO[UsageCharge]):
    """A wallet's charges per instance-hour, newest hour first."""

    model = UsageCharge
    # the key read backwards: a page of the newest hours stops early, nothing is sorted
    default_sort = (UsageCharge.hour.desc(), UsageCharge.instance_id.desc())

    async def of_account(
        self,
        account_id: uuid.UUID,
        owner_id: uuid.UUID | None,
        params: PageParams,
        since: datetime | None,
        until: datetime | None,
    ) -> tuple[list[UsageCharge], int]:
        """The wallet's charges of the hours in [since, until), within its instances' lifetime
        (from the first start on record to the last stop, or the last closed hour)."""
        lifetime = (
            await self.session.execute(
                select(
                    func.min(UsageInterval.started_at),
                    func.max(func.coalesce(UsageInterval.stopped_at, func.now())),
                ).where(UsageInterval.owner_id == owner_id, UsageInterval.account_id == account_id)
            )
        ).one()
        first_start, last_stop = lifetime
        if first_start is None:
            return [], 0
        first_hour = hour_floor(first_start)
        end = min(hour_floor(datetime.now(UTC)), last_stop)  # closed hours of its lifetime
        hours = full_hours(
            max(since, first_hour) if since else first_hour,
            min(until, end) if until else end,
        )
        return await self.list(params, in_hours(hours), UsageCharge.account_id == account_id)
