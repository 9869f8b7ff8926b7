"""Posting to the double-entry ledger: one journal transaction, its entries in one INSERT.

The database checks what must hold (entries sum to zero per currency, at least two, in the
accounts' currency, never updated or deleted) and keeps each account's balance cache; the
transaction `key` is unique, so posting the same movement twice posts it once.
"""

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import insert, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from berth_billing.models import LedgerEntry, LedgerTransaction


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
    txn_id = (
        await session.execute(
            pg_insert(LedgerTransaction)
            .values(**values)
            .on_conflict_do_nothing(index_elements=["key"])
            .returning(LedgerTransaction.id, LedgerTransaction.occurred_at)
        )
    ).first()
    if txn_id is None:
        return None
    await session.execute(
        insert(LedgerEntry).values(
            [
                {
                    "transaction_id": txn_id.id,
                    "account_id": leg.account_id,
                    "amount": leg.amount,
                    "currency": currency,
                    "kind": kind,
                    "memo": leg.memo[:300],
                    "occurred_at": txn_id.occurred_at,
                }
                for leg in legs
            ]
        )
    )
    # the trigger moved the balance caches: an Account loaded before shows a stale balance
    return txn_id.id


async def transaction_id_for(session: AsyncSession, key: str) -> uuid.UUID | None:
    return (
        await session.execute(select(LedgerTransaction.id).where(LedgerTransaction.key == key))
    ).scalar_one_or_none()
