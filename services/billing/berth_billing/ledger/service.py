"""Posting to the double-entry ledger: one journal transaction, its entries in one INSERT.

The database checks what must hold (entries sum to zero per currency, at least two, in the
accounts' currency, never updated or deleted) and keeps each account's balance cache; the
transaction `key` is unique, so posting the same movement twice posts it once.
"""

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from berth_billing.ledger.dao import LedgerDAO


@dataclass(frozen=True)
class Leg:
    account_id: uuid.UUID
    amount: int  # signed minor units: + credits the account, - debits it
    memo: str = ""


async def post(
    session: AsyncSession,
    *,
    kind: str,
    key: str,
    description: str,
    caused_by: str,
    currency: str,
    legs: list[Leg],
    occurred_at: datetime | None = None,
) -> uuid.UUID | None:
    """Post a balanced transaction; None when one with this key exists already."""
    if len(legs) < 2 or sum(leg.amount for leg in legs) != 0 or not all(leg.amount for leg in legs):
        raise ValueError("a journal transaction needs two or more non-zero legs that sum to zero")
    values = {
        "kind": kind,
        "key": key,
        "description": description[:500],
        "caused_by": caused_by[:120],
    }
    if occurred_at is not None:
        values["occurred_at"] = occurred_at
    ledger = LedgerDAO(session)
    txn = await ledger.insert_transaction(**values)
    if txn is None:
        return None
    await ledger.insert_entries(
        [
            {
                "transaction_id": txn.id,
                "account_id": leg.account_id,
                "amount": leg.amount,
                "currency": currency,
                "kind": kind,
                "memo": leg.memo[:300],
                "occurred_at": txn.occurred_at,
            }
            for leg in legs
        ]
    )
    # the trigger moved the balance caches: an Account loaded before shows a stale balance
    return txn.id
