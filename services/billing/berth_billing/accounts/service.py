"""A holder's view of their wallet: balance, state, movements, daily spend."""

import uuid
from datetime import UTC, date, datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from berth_billing.accounts import schemas
from berth_billing.accounts.dao import AccountDAO
from berth_billing.config import BillingSettings
from berth_billing.enums import AccountKind, AccountState
from berth_billing.ledger.dao import LedgerDAO
from berth_billing.metering.dao import UsageChargeDAO
from berth_billing.models import Account
from berth_common.errors import NotFound
from berth_common.money import currency_exponent, format_amount
from berth_common.pagination import PageParams


async def wallet(session: AsyncSession, settings: BillingSettings, owner_id: uuid.UUID) -> Account:
    """The person's wallet, opened on first use."""
    dao = AccountDAO(session)
    account = await dao.wallet_of(owner_id)
    if account is None:
        account = await dao.ensure_wallet(owner_id, settings.currency)
    return account


async def existing_wallet(session: AsyncSession, owner_id: uuid.UUID) -> Account:
    """The person's wallet if they have one (other services read it; none is opened)."""
    account = await AccountDAO(session).wallet_of(owner_id)
    if account is None:
        raise NotFound("Account not found")
    return account


async def wallet_by_id(session: AsyncSession, account_id: uuid.UUID) -> Account:
    """A holder's wallet by its id; system accounts are not anyone's to look at."""
    account = await AccountDAO(session).get(account_id)
    if account is None or account.kind != AccountKind.WALLET:
        raise NotFound("Account not found")
    return account


async def ledger_page(
    session: AsyncSession, account: Account, query: schemas.LedgerQuery, params: PageParams
) -> schemas.LedgerEntryPage:
    """One page of the wallet's entries, newest first, within the query's kind and range."""
    dao = LedgerDAO(session)
    stmt = dao.entries_query(account.id, kind=query.kind, since=query.since, until=query.until)
    rows, total = await dao.page(stmt, params.offset, params.size)
    return schemas.LedgerEntryPage.build(
        [schemas.LedgerEntry.model_validate(r) for r in rows], total, params
    )


async def usage_charges_page(
    session: AsyncSession, account: Account, query: schemas.RangeQuery, params: PageParams
) -> schemas.UsageChargePage:
    """One page of the wallet's charges per instance-hour (the detail of its usage entries),
    newest hour first, within the query's [from, to) range of hours."""
    rows, total = await UsageChargeDAO(session).of_account(
        account.id, account.owner_id, params, query.since, query.until
    )
    return schemas.UsageChargePage.build(
        [schemas.UsageCharge.model_validate(r) for r in rows], total, params
    )


async def describe(
    session: AsyncSession, settings: BillingSettings, account: Account
) -> schemas.Account:
    await session.refresh(account)
    suspension = await AccountDAO(session).open_suspension(account.id)
    grace_ends = (
        account.negative_since + timedelta(hours=settings.grace_hours)
        if account.negative_since
        else None
    )
    if suspension:
        state = AccountState.SUSPENDED
    else:
        state = AccountState.GRACE if account.negative_since else AccountState.ACTIVE
    return schemas.Account(
        id=account.id,
        owner_id=account.owner_id,
        email=account.email,
        currency=account.currency,
        balance=account.balance,
        exponent=currency_exponent(account.currency),
        balance_display=format_amount(account.balance, account.currency),
        state=state,
        tier=account.tier,
        negative_since=account.negative_since,
        grace_ends_at=grace_ends,
        suspended_at=suspension.suspended_at if suspension else None,
        low_balance_thresholds=settings.low_balance_thresholds,
        created_at=account.created_at,
    )


async def usage_series(
    session: AsyncSession, account: Account, days: int, today: date | None = None
) -> schemas.UsageSeries:
    """One point per UTC day for the last `days` days (zeros included), oldest first."""
    today = today or datetime.now(UTC).date()
    first = today - timedelta(days=days - 1)
    since = datetime(first.year, first.month, first.day, tzinfo=UTC)
    rows = {r.day.date(): r for r in await LedgerDAO(session).daily_spend(account.id, since)}
    points = []
    for n in range(days):
        day = first + timedelta(days=n)
        row = rows.get(day)
        points.append(
            schemas.UsageDay(
                day=day,
                usage=row.usage if row else 0,
                other_debits=row.other_debits if row else 0,
                credits=row.credits if row else 0,
            )
        )
    return schemas.UsageSeries(
        currency=account.currency,
        exponent=currency_exponent(account.currency),
        days=points,
        total_usage=sum(p.usage for p in points),
    )
