"""Queries of invoices: the statement's figures straight from the ledger, numbering."""

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, cast, func, select, text, update
from sqlalchemy.dialects.postgresql import insert as pg_insert

from berth_billing.enums import AccountKind, EntryKind, InvoiceKind, InvoiceStatus
from berth_billing.hours import full_hours
from berth_billing.metering.dao import in_hours
from berth_billing.metering.models import UsageCharge
from berth_billing.models import (
    Account,
    Invoice,
    InvoiceCounter,
    InvoiceLine,
    LedgerEntry,
    LedgerTransaction,
)
from berth_common.dao import BaseDAO


class InvoiceDAO(BaseDAO[Invoice]):
    model = Invoice
    not_found_message = "Invoice not found"
    sortable = {"created_at": Invoice.created_at, "period_start": Invoice.period_start}
    default_sort = (Invoice.created_at.desc(), Invoice.id)

    async def insert_statement_once(self, **values: Any) -> uuid.UUID | None:
        """A draft statement of (account, period); None when it was made before."""
        stmt = (
            pg_insert(Invoice)
            .values(kind=InvoiceKind.INVOICE, status=InvoiceStatus.DRAFT, **values)
            .on_conflict_do_nothing(
                index_elements=["account_id", "period_start"],
                # a literal predicate: PostgreSQL infers the partial unique index from it
                index_where=text("kind = 'invoice'"),
            )
            .returning(Invoice.id)
        )
        return (await self.session.execute(stmt)).scalar_one_or_none()

    async def for_update(self, invoice_id: uuid.UUID) -> Invoice | None:
        stmt = select(Invoice).where(Invoice.id == invoice_id).with_for_update()
        return (await self.session.execute(stmt)).scalars().first()

    async def lines(self, invoice_id: uuid.UUID) -> list[InvoiceLine]:
        stmt = (
            select(InvoiceLine)
            .where(InvoiceLine.invoice_id == invoice_id)
            .order_by(InvoiceLine.position)
        )
        return list((await self.session.execute(stmt)).scalars())

    async def take_number(self, series: str) -> int:
        """The series' next number; the counter row stays locked until this transaction ends,
        so numbers are handed out one finalization at a time and a rollback returns it."""
        number = (
            await self.session.execute(
                select(InvoiceCounter.next_number)
                .where(InvoiceCounter.series == series)
                .with_for_update()
            )
        ).scalar_one()
        await self.session.execute(
            update(InvoiceCounter)
            .where(InvoiceCounter.series == series)
            .values(next_number=InvoiceCounter.next_number + 1)
        )
        return number

    async def credited_total(self, invoice_id: uuid.UUID) -> int:
        stmt = select(cast(func.coalesce(func.sum(-Invoice.total), 0), BigInteger)).where(
            Invoice.corrects_invoice_id == invoice_id, Invoice.status == InvoiceStatus.FINALIZED
        )
        return (await self.session.execute(stmt)).scalar_one()

    async def balance_before(self, account_id: uuid.UUID, at: datetime) -> int:
        stmt = select(cast(func.coalesce(func.sum(LedgerEntry.amount), 0), BigInteger)).where(
            LedgerEntry.account_id == account_id, LedgerEntry.occurred_at < at
        )
        return (await self.session.execute(stmt)).scalar_one()

    async def usage_lines(self, account_id: uuid.UUID, start: datetime, end: datetime) -> list:
        stmt = (
            select(
                func.coalesce(UsageCharge.app_slug, text("'app'")).label("app"),
                UsageCharge.plan_key,
                cast(func.sum(UsageCharge.minutes), BigInteger).label("minutes"),
                cast(func.sum(UsageCharge.amount), BigInteger).label("amount"),
            )
            .where(
                in_hours(full_hours(start, end)),
                UsageCharge.account_id == account_id,
                UsageCharge.transaction_id.is_not(None),
            )
            .group_by(text("1"), UsageCharge.plan_key)
            .order_by(text("1"), UsageCharge.plan_key)
        )
        return list((await self.session.execute(stmt)).all())

    async def other_entries(self, account_id: uuid.UUID, start: datetime, end: datetime) -> list:
        """The period's movements other than usage, oldest first."""
        stmt = (
            select(
                LedgerEntry.kind,
                LedgerEntry.amount,
                LedgerEntry.occurred_at,
                LedgerTransaction.description,
            )
            .join(LedgerTransaction, LedgerTransaction.id == LedgerEntry.transaction_id)
            .where(
                LedgerEntry.account_id == account_id,
                LedgerEntry.occurred_at >= start,
                LedgerEntry.occurred_at < end,
                LedgerEntry.kind != EntryKind.USAGE,
            )
            .order_by(LedgerEntry.occurred_at, LedgerEntry.id)
        )
        return list((await self.session.execute(stmt)).all())

    async def active_wallets(self, start: datetime, end: datetime) -> list[uuid.UUID]:
        stmt = (
            select(LedgerEntry.account_id)
            .where(
                LedgerEntry.occurred_at >= start,
                LedgerEntry.occurred_at < end,
                LedgerEntry.account_id.in_(
                    select(Account.id).where(Account.kind == AccountKind.WALLET)
                ),
            )
            .distinct()
        )
        return list((await self.session.execute(stmt)).scalars())

    @staticmethod
    def filters(
        *,
        account_id: uuid.UUID | None = None,
        status: str | None = None,
        kind: str | None = None,
        period_start: datetime | None = None,
    ) -> list[Any]:
        where: list[Any] = []
        if account_id:
            where.append(Invoice.account_id == account_id)
        if status:
            where.append(Invoice.status == status)
        if kind:
            where.append(Invoice.kind == kind)
        if period_start:
            where.append(Invoice.period_start == period_start)
        return where
