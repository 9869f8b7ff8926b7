"""Queries of the journal: posting a transaction and its entries, reading an account's."""

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Select, cast, func, select, text

from berth_billing.enums import EntryKind
from berth_billing.models import LedgerEntry, LedgerTransaction
from berth_common.dao import BaseDAO

# Journal transactions and their entries in one statement, from arrays (one SQL text whatever
# the count, so one prepared statement): the statement-level posting trigger then checks and
# books all entries at once, and locks their accounts in id order. The transactions are
# inserted in key order, so two concurrent posts of the same keys queue rather than deadlock.
POST_MANY = text(
    """
    WITH txn AS (
        INSERT INTO billing.ledger_transactions (kind, key, description, caused_by, occurred_at)
        SELECT t.kind, t.key, t.description, t.caused_by, COALESCE(t.occurred_at, now())
        FROM unnest(CAST(:kinds AS text[]), CAST(:keys AS text[]),
                    CAST(:descriptions AS text[]), CAST(:caused_by AS text[]),
                    CAST(:occurred AS timestamptz[]))
             AS t(kind, key, description, caused_by, occurred_at)
        ORDER BY t.key
        ON CONFLICT (key) DO NOTHING
        RETURNING id, key, kind, occurred_at
    ), entries AS (
        INSERT INTO billing.ledger_entries
            (transaction_id, account_id, amount, currency, kind, memo, occurred_at)
        SELECT txn.id, l.account_id, l.amount, l.currency, txn.kind, l.memo, txn.occurred_at
        FROM unnest(CAST(:leg_keys AS text[]), CAST(:leg_accounts AS uuid[]),
                    CAST(:leg_amounts AS bigint[]), CAST(:leg_currencies AS text[]),
                    CAST(:leg_memos AS text[]))
             AS l(key, account_id, amount, currency, memo)
        JOIN txn ON txn.key = l.key
    )
    SELECT key, id FROM txn
    """
)


class LedgerDAO(BaseDAO[LedgerEntry]):
    model = LedgerEntry
    # newest first; the id breaks ties between entries of one instant
    default_sort = (LedgerEntry.occurred_at.desc(), LedgerEntry.id.desc())

    async def insert_postings(self, postings: Sequence[Any]) -> dict[str, uuid.UUID]:
        """The journal transactions and all their legs in one statement; key -> id of those
        inserted (a key posted before is skipped, with its legs)."""
        legs = [(p.key, leg, p.currency) for p in postings for leg in p.legs]
        rows = await self.session.execute(
            POST_MANY,
            {
                "kinds": [p.kind for p in postings],
                "keys": [p.key for p in postings],
                "descriptions": [p.description[:500] for p in postings],
                "caused_by": [p.caused_by[:120] for p in postings],
                "occurred": [p.occurred_at for p in postings],
                "leg_keys": [key for key, _, _ in legs],
                "leg_accounts": [leg.account_id for _, leg, _ in legs],
                "leg_amounts": [leg.amount for _, leg, _ in legs],
                "leg_currencies": [currency for _, _, currency in legs],
                "leg_memos": [leg.memo[:300] for _, leg, _ in legs],
            },
        )
        return {key: txn_id for key, txn_id in rows.all()}

    def entries_query(
        self,
        account_id: uuid.UUID,
        *,
        kind: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> Select[Any]:
        stmt = (
            select(
                LedgerEntry.id,
                LedgerEntry.amount,
                LedgerEntry.currency,
                LedgerEntry.kind,
                LedgerEntry.memo,
                LedgerEntry.occurred_at,
                LedgerEntry.created_at,
                LedgerTransaction.id.label("transaction_id"),
                LedgerTransaction.description,
                LedgerTransaction.caused_by,
            )
            .join(LedgerTransaction, LedgerTransaction.id == LedgerEntry.transaction_id)
            .where(LedgerEntry.account_id == account_id)
        )
        if kind:
            stmt = stmt.where(LedgerEntry.kind == kind)
        if since:
            stmt = stmt.where(LedgerEntry.occurred_at >= since)
        if until:
            stmt = stmt.where(LedgerEntry.occurred_at < until)
        return stmt

    async def page(self, stmt: Select[Any], offset: int, size: int) -> tuple[list[Any], int]:
        """One page of entry rows (newest first) and the count of all of them."""
        total = (
            await self.session.execute(select(func.count()).select_from(stmt.subquery()))
        ).scalar_one()
        page_stmt = self._order(stmt, None).offset(offset).limit(size)
        return list((await self.session.execute(page_stmt)).all()), total

    async def daily_spend(self, account_id: uuid.UUID, since: datetime) -> list[Any]:
        """Per UTC day: what usage cost, what else was debited, what was credited."""
        day = func.date_trunc("day", LedgerEntry.occurred_at).label("day")
        debits = -LedgerEntry.amount
        stmt = (
            select(
                day,
                _sum_or_zero(debits, LedgerEntry.kind == EntryKind.USAGE).label("usage"),
                _sum_or_zero(
                    debits, LedgerEntry.kind != EntryKind.USAGE, LedgerEntry.amount < 0
                ).label("other_debits"),
                _sum_or_zero(LedgerEntry.amount, LedgerEntry.amount > 0).label("credits"),
            )
            .where(LedgerEntry.account_id == account_id, LedgerEntry.occurred_at >= since)
            .group_by(day)
            .order_by(day)
        )
        return list((await self.session.execute(stmt)).all())


def _sum_or_zero(value: Any, *where: Any) -> Any:
    return cast(func.coalesce(func.sum(value).filter(*where), 0), BigInteger)
