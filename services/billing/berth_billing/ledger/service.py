"""Posting to the double-entry ledger: journal transactions and their entries, set-based.

The database checks what must hold (entries sum to zero per currency, at least two, in the
accounts' currency, never updated or deleted) and keeps each account's balance cache; the
transaction `key` is unique, so posting the same movement twice posts it once.
"""

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from berth_billing.ledger.dao import LedgerDAO


@dataclass(frozen=True)
class Leg:
    account_id: uuid.UUID
    amount: int  # signed minor units: + credits the account, - debits it
    memo: str = ""


@dataclass(frozen=True)
class Posting:
    """One balanced journal transaction to post."""

    kind: str
    key: str
    description: str
    caused_by: str
    currency: str
    legs: Sequence[Leg]
    occurred_at: datetime | None = None

    def check(self) -> None:
        amounts = [leg.amount for leg in self.legs]
        if len(amounts) < 2 or sum(amounts) != 0 or not all(amounts):
            raise ValueError(
                "a journal transaction needs two or more non-zero legs that sum to zero"
            )


async def post_many(session: AsyncSession, postings: Sequence[Posting]) -> dict[str, uuid.UUID]:
    """Post many balanced transactions in one statement (the balance trigger checks them all
    at once); returns key -> id of those posted now, without the keys posted before."""
    keys = [p.key for p in postings]
    if len(set(keys)) != len(keys):
        raise ValueError("each posting of one call needs its own key")
    for posting in postings:
        posting.check()
    if not postings:
        return {}
    return await LedgerDAO(session).insert_postings(postings)


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
    posting = Posting(kind, key, description, caused_by, currency, legs, occurred_at)
    # the trigger moved the balance caches: an Account loaded before shows a stale balance
    return (await post_many(session, [posting])).get(key)
