"""Queries of the journal: posting a transaction and its entries, reading an account's."""

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Row, Select, cast, func, insert, select
from sqlalchemy.dialects.postgresql import insert as pg_insert

from berth_billing.enums import EntryKind
from berth_billing.models import LedgerEntry, LedgerTransaction
from berth_common.dao import BaseDAO


class LedgerDAO(BaseDAO[LedgerEntry]):
    model = LedgerEntry
    # newest first; the id breaks ties between entries of one instant
    default_sort = (LedgerEntry.occurred_at.desc(), LedgerEntry.id.desc())

    async def insert_transaction(self, **values: Any) -> Row[Any] | None:
        """The new transaction's (id, occurred_at); None when its key was posted before."""
        stmt = (
            pg_insert(LedgerTransaction)
            .values(**values)
            .on_conflict_do_nothing(index_elements=["key"])
            .returning(LedgerTransaction.id, LedgerTransaction.occurred_at)
        )
        return (await self.session.execute(stmt)).first()

    async def insert_entries(self, entries: list[dict[str, Any]]) -> None:
        """All legs in one INSERT: the balance trigger checks them as one transaction."""
        await self.session.execute(insert(LedgerEntry).values(entries))

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
