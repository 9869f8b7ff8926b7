"""Low-balance notices, the grace period, and billing-caused suspensions, set-based.

- A watch per (account, threshold) is armed while the balance is at or above the threshold;
  the check that sees it below disarms it and owes one notice (one row per crossing).
- The first check that sees a wallet below zero starts its grace period (one warning).
- A wallet still below zero when the grace period is over gets one open suspension and
  `billing.account.suspended` goes to the deploy service.
- A balance back at zero or more clears the grace period and lifts the suspension:
  `billing.account.unsuspended`.
"""

import uuid
from datetime import UTC, datetime, timedelta

from loguru import logger
from sqlalchemy import and_, literal, select, text, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from berth_billing import mail
from berth_billing.config import BillingSettings
from berth_billing.enums import AccountKind, NoticeKind, SuspensionReason
from berth_billing.models import Account, BalanceWatch, Notice, Suspension
from berth_billing.money import format_amount
from berth_billing.names import Event
from berth_common.outbox import publish_event


async def _notice(
    session: AsyncSession,
    settings: BillingSettings,
    *,
    account_id: uuid.UUID,
    kind: str,
    key: str,
    context: dict,
) -> bool:
    notice_id = (
        await session.execute(
            pg_insert(Notice)
            .values(account_id=account_id, kind=kind, key=key, context=context)
            .on_conflict_do_nothing(index_elements=["key"])
            .returning(Notice.id)
        )
    ).scalar_one_or_none()
    if notice_id is None:
        return False
    await mail.queue_email(
        session,
        settings,
        account_id=account_id,
        template=kind,
        context=context,
        notice_id=notice_id,
    )
    return True


async def rearm_watches(
    session: AsyncSession, settings: BillingSettings, account_ids: list[uuid.UUID] | None = None
) -> None:
    """Arm every watch whose threshold the balance is at or above (after a credit)."""
    thresholds = settings.low_balance_thresholds
    if not thresholds:
        return
    await session.execute(
        text(
            """
            INSERT INTO billing.balance_watches (account_id, threshold, armed, updated_at)
            SELECT a.id, t.threshold, true, now()
            FROM billing.accounts a CROSS JOIN unnest(CAST(:thresholds AS bigint[])) AS t(threshold)
            WHERE a.kind = 'wallet' AND a.balance >= t.threshold
              AND (CAST(:ids AS uuid[]) IS NULL OR a.id = ANY(CAST(:ids AS uuid[])))
            ON CONFLICT (account_id, threshold) DO UPDATE SET armed = true, updated_at = now()
            WHERE NOT billing.balance_watches.armed
            """
        ),
        {"thresholds": thresholds, "ids": account_ids},
    )


async def check_accounts(
    session: AsyncSession, settings: BillingSettings, account_ids: list[uuid.UUID] | None = None
) -> dict[str, int]:
    """One pass of every rule over the given wallets (all wallets when None)."""
    scope = Account.id.in_(account_ids) if account_ids is not None else text("true")
    counts = {"low_balance": 0, "grace": 0, "suspended": 0, "unsuspended": 0}

    if account_ids is not None:  # credits re-arm their own wallets as they land
        await rearm_watches(session, settings, account_ids)
    crossed = (
        await session.execute(
            update(BalanceWatch)
            .where(
                BalanceWatch.account_id == Account.id,
                BalanceWatch.armed,
                Account.balance < BalanceWatch.threshold,
                scope,
            )
            .values(armed=False, crossings=BalanceWatch.crossings + 1, updated_at=text("now()"))
            .returning(
                BalanceWatch.account_id,
                BalanceWatch.threshold,
                BalanceWatch.crossings,
                Account.balance,
                Account.currency,
            )
        )
    ).all()
    for row in crossed:
        counts["low_balance"] += await _notice(
            session,
            settings,
            account_id=row.account_id,
            kind=NoticeKind.LOW_BALANCE,
            key=f"low_balance:{row.account_id}:{row.threshold}:{row.crossings}",
            context={
                "balance": format_amount(row.balance, row.currency),
                "threshold": format_amount(row.threshold, row.currency),
                "grace_hours": f"{settings.grace_hours:g}",
            },
        )

    grace = timedelta(hours=settings.grace_hours)
    went_negative = (
        await session.execute(
            update(Account)
            .where(
                Account.kind == AccountKind.WALLET,
                Account.balance < 0,
                Account.negative_since.is_(None),
                scope,
            )
            .values(negative_since=text("now()"))
            .returning(Account.id, Account.balance, Account.currency, Account.negative_since)
        )
    ).all()
    for row in went_negative:
        ends = (row.negative_since + grace).astimezone(UTC)
        counts["grace"] += await _notice(
            session,
            settings,
            account_id=row.id,
            kind=NoticeKind.GRACE_WARNING,
            key=f"grace_warning:{row.id}:{row.negative_since.isoformat()}",
            context={
                "balance": format_amount(row.balance, row.currency),
                "grace_ends_at": ends.strftime("%Y-%m-%d %H:%M"),
            },
        )

    now = datetime.now(UTC)
    due = (
        select(Account.id, Account.owner_id, literal(SuspensionReason.BILLING.value))
        .where(
            Account.kind == AccountKind.WALLET,
            Account.balance < 0,
            Account.negative_since <= now - grace,
            scope,
        )
        .order_by(Account.id)
    )
    suspended = (
        await session.execute(
            pg_insert(Suspension)
            .from_select(["account_id", "owner_id", "reason"], due)
            .on_conflict_do_nothing(
                index_elements=["account_id"], index_where=text("lifted_at IS NULL")
            )
            .returning(Suspension.id, Suspension.account_id, Suspension.owner_id)
        )
    ).all()
    for row in suspended:
        await publish_event(
            session,
            Event.ACCOUNT_SUSPENDED,
            {
                "owner_id": str(row.owner_id),
                "reason": SuspensionReason.BILLING,
                "suspended_at": now.isoformat(),
            },
        )
        balance, currency = (
            await session.execute(
                select(Account.balance, Account.currency).where(Account.id == row.account_id)
            )
        ).one()
        await _notice(
            session,
            settings,
            account_id=row.account_id,
            kind=NoticeKind.SUSPENDED,
            key=f"suspended:{row.id}",
            context={"balance": format_amount(balance, currency)},
        )
        counts["suspended"] += 1
        logger.info("account {} suspended for a negative balance", row.account_id)

    counts["unsuspended"] = await lift_recovered(session, account_ids)
    return counts


async def lift_recovered(session: AsyncSession, account_ids: list[uuid.UUID] | None = None) -> int:
    """Wallets at zero or more: clear the grace period, lift the billing suspension."""
    scope = Account.id.in_(account_ids) if account_ids is not None else text("true")
    await session.execute(
        update(Account)
        .where(
            Account.kind == AccountKind.WALLET,
            Account.balance >= 0,
            Account.negative_since.is_not(None),
        )
        .where(scope)
        .values(negative_since=None)
    )
    now = datetime.now(UTC)
    lifted = (
        await session.execute(
            update(Suspension)
            .where(
                Suspension.lifted_at.is_(None),
                Suspension.reason == SuspensionReason.BILLING,
                Suspension.account_id == Account.id,
                and_(Account.balance >= 0, scope),
            )
            .values(lifted_at=now)
            .returning(Suspension.owner_id, Suspension.account_id)
        )
    ).all()
    for row in lifted:
        await publish_event(
            session,
            Event.ACCOUNT_UNSUSPENDED,
            {"owner_id": str(row.owner_id), "unsuspended_at": now.isoformat()},
        )
        logger.info("account {} unsuspended", row.account_id)
    return len(lifted)


async def after_credit(
    session: AsyncSession, settings: BillingSettings, account_id: uuid.UUID
) -> None:
    """A credit landed on this wallet: re-arm its watches, lift what the balance allows."""
    await rearm_watches(session, settings, [account_id])
    await lift_recovered(session, [account_id])
