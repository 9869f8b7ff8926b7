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
from typing import Any

from loguru import logger
from sqlalchemy.ext.asyncio import AsyncSession

from berth_billing import mail
from berth_billing.accounts.dao import AccountDAO
from berth_billing.config import BillingSettings
from berth_billing.dunning.dao import GraceDAO, NoticeDAO, SuspensionDAO, WatchDAO, wallets_scope
from berth_billing.enums import NoticeKind, SuspensionReason
from berth_billing.names import Event
from berth_common.money import format_amount
from berth_common.outbox import publish_event


async def owe_notice(
    session: AsyncSession,
    settings: BillingSettings,
    *,
    account_id: uuid.UUID,
    kind: NoticeKind,
    key: str,
    context: dict[str, Any],
) -> bool:
    """Owe the holder a notice once per `key`, and queue its email; False if owed before."""
    notice_id = await NoticeDAO(session).owe_once(
        account_id=account_id, kind=kind, key=key, context=context
    )
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
    if settings.low_balance_thresholds:
        await WatchDAO(session).rearm(settings.low_balance_thresholds, wallets_scope(account_ids))


async def check_accounts(
    session: AsyncSession, settings: BillingSettings, account_ids: list[uuid.UUID] | None = None
) -> dict[str, int]:
    """One pass of every rule over the given wallets (all wallets when None).

    In order: re-arm the watches of the given wallets (a credit may have landed), owe a
    notice per threshold crossed, start the grace period of wallets newly below zero,
    suspend those whose grace period is over, lift what a balance back at zero allows.
    Returns how many of each happened.
    """
    scope = wallets_scope(account_ids)
    if account_ids is not None:  # credits re-arm their own wallets as they land
        await rearm_watches(session, settings, account_ids)
    return {
        "low_balance": await _notify_crossings(session, settings, scope),
        "grace": await _start_grace(session, settings, scope),
        "suspended": await _suspend_overdue(session, settings, scope),
        "unsuspended": await lift_recovered(session, account_ids),
    }


async def _notify_crossings(session: AsyncSession, settings: BillingSettings, scope: Any) -> int:
    """A low-balance notice per watch the balance fell below since it was armed."""
    sent = 0
    for row in await WatchDAO(session).disarm_crossed(scope):
        sent += await owe_notice(
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
    return sent


async def _start_grace(session: AsyncSession, settings: BillingSettings, scope: Any) -> int:
    """Wallets newly below zero: the grace period starts now, with one warning."""
    grace = timedelta(hours=settings.grace_hours)
    warned = 0
    for row in await GraceDAO(session).start(scope):
        ends = (row.negative_since + grace).astimezone(UTC)
        warned += await owe_notice(
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
    return warned


async def _suspend_overdue(session: AsyncSession, settings: BillingSettings, scope: Any) -> int:
    """Wallets still below zero after the grace period: suspended once, deploy told."""
    now = datetime.now(UTC)
    cutoff = now - timedelta(hours=settings.grace_hours)
    suspended = await SuspensionDAO(session).suspend_overdue(cutoff, scope)
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
        balance, currency = await AccountDAO(session).balance_of(row.account_id)
        await owe_notice(
            session,
            settings,
            account_id=row.account_id,
            kind=NoticeKind.SUSPENDED,
            key=f"suspended:{row.id}",
            context={"balance": format_amount(balance, currency)},
        )
        logger.info("account {} suspended for a negative balance", row.account_id)
    return len(suspended)


async def lift_recovered(session: AsyncSession, account_ids: list[uuid.UUID] | None = None) -> int:
    """Wallets at zero or more: clear the grace period, lift the billing suspension."""
    scope = wallets_scope(account_ids)
    await GraceDAO(session).clear(scope)
    now = datetime.now(UTC)
    lifted = await SuspensionDAO(session).lift_recovered(now, scope)
    for row in lifted:
        await publish_event(
            session,
            Event.ACCOUNT_UNSUSPENDED,
            {"owner_id": str(row.owner_id), "unsuspended_at": now.isoformat()},
        )
        logger.info("account {} unsuspended", row.account_id)
    return len(lifted)


async def after_credit(
    session: AsyncSession, settings: BillingSettings, account_ids: list[uuid.UUID]
) -> None:
    """Credits landed on these wallets: re-arm their watches, lift what the balances allow."""
    if not account_ids:
        return
    await rearm_watches(session, settings, account_ids)
    await lift_recovered(session, account_ids)
