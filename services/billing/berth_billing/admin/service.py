"""Admins' manual corrections: a credit or debit with a reason, as a ledger transaction."""

import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from berth_billing.accounts.dao import AccountDAO
from berth_billing.accounts.service import wallet_by_id
from berth_billing.admin import schemas
from berth_billing.config import BillingSettings
from berth_billing.dunning import service as dunning
from berth_billing.enums import AccountKind, EntryKind
from berth_billing.ledger.service import Leg, post
from berth_billing.payments.service import AmountOutOfRange, check_currency


async def adjust(
    session: AsyncSession,
    settings: BillingSettings,
    account_id: uuid.UUID,
    body: schemas.AdjustmentCreate,
    caused_by: str,
) -> schemas.Adjustment:
    check_currency(settings, body.currency)
    if body.amount > settings.max_adjustment:
        raise AmountOutOfRange(
            "The adjustment is out of range", details={"max": settings.max_adjustment}
        )
    account = await wallet_by_id(session, account_id)
    adjustments = await AccountDAO(session).system_account(
        AccountKind.ADJUSTMENTS, account.currency
    )
    signed = body.amount if body.direction == "credit" else -body.amount
    txn = await post(
        session,
        kind=EntryKind.ADJUSTMENT,
        key=f"adjustment:{uuid.uuid4()}",
        description=f"Adjustment ({body.direction}): {body.reason}",
        caused_by=caused_by,
        currency=account.currency,
        legs=[Leg(account.id, signed), Leg(adjustments, -signed)],
    )
    if signed > 0:
        await dunning.after_credit(session, settings, [account.id])
    else:
        await dunning.check_accounts(session, settings, [account.id])
    await session.refresh(account)
    return schemas.Adjustment(
        transaction_id=txn,
        account_id=account.id,
        direction=body.direction,
        amount=body.amount,
        currency=account.currency,
        reason=body.reason,
        balance=account.balance,
    )
