"""Monthly statements from the ledger, gapless numbering at finalization, credit notes.

Numbers: a counter row per series ("INV", "CN") is locked FOR UPDATE by the finalizing
transaction, so concurrent finalizations take numbers one after another and a rolled-back
one gives its number back: no gaps, no duplicates. A finalized invoice is frozen by a
database trigger; corrections are credit notes (their own series) that credit the wallet.
"""

import uuid
from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncSession

from berth_billing.accounts.dao import AccountDAO
from berth_billing.config import BillingSettings
from berth_billing.dunning import service as dunning
from berth_billing.enums import AccountKind, EntryKind, InvoiceKind, InvoiceStatus, NoticeKind
from berth_billing.invoices import schemas
from berth_billing.invoices.dao import InvoiceDAO
from berth_billing.ledger.service import Leg, post
from berth_billing.models import Account, Invoice, InvoiceLine
from berth_billing.names import QUEUE, Task
from berth_common.errors import Conflict, NotFound, Unprocessable
from berth_common.money import format_amount
from berth_common.outbox import enqueue_task
from berth_common.pagination import PageParams

FINALIZE_CHUNK = 100


def month_bounds(period: str) -> tuple[datetime, datetime]:
    """'2025-01' -> [2025-01-01, 2025-02-01) in UTC."""
    try:
        year, month = (int(p) for p in period.split("-"))
        start = datetime(year, month, 1, tzinfo=UTC)
    except (ValueError, TypeError):
        raise Unprocessable("A period looks like 2025-01") from None
    end = datetime(year + (month == 12), month % 12 + 1, 1, tzinfo=UTC)
    return start, end


def previous_period(now: datetime | None = None) -> str:
    now = now or datetime.now(UTC)
    year, month = (now.year, now.month - 1) if now.month > 1 else (now.year - 1, 12)
    return f"{year:04d}-{month:02d}"


def seller(settings: BillingSettings) -> dict:
    return {
        "name": settings.seller_name,
        "address": settings.seller_address,
        "vat_id": settings.seller_vat_id,
        "email": settings.seller_email,
    }


def buyer(account: Account) -> dict:
    return {
        "account_id": str(account.id),
        "owner_id": str(account.owner_id),
        "name": account.name or "",
        "email": account.email or "",
    }


async def statement_of(
    session: AsyncSession, owner_id: uuid.UUID, invoice_id: uuid.UUID
) -> Invoice:
    """A holder's own finalized statement or credit note; anything else is not found."""
    invoice = await InvoiceDAO(session).get(invoice_id)
    account = await AccountDAO(session).get(invoice.account_id) if invoice else None
    if invoice is None or account is None or account.owner_id != owner_id:
        raise NotFound("Invoice not found")
    if invoice.status != InvoiceStatus.FINALIZED:  # drafts are the admins' business
        raise NotFound("Invoice not found")
    return invoice


async def statements_of(
    session: AsyncSession, owner_id: uuid.UUID, params: PageParams
) -> tuple[list[Invoice], int]:
    """One page of the holder's finalized statements and credit notes, and their count."""
    account = await AccountDAO(session).wallet_of(owner_id)
    if account is None:
        return [], 0
    dao = InvoiceDAO(session)
    return await dao.list(
        params, *dao.filters(account_id=account.id, status=InvoiceStatus.FINALIZED)
    )


async def detail(session: AsyncSession, invoice: Invoice) -> schemas.InvoiceDetail:
    lines = await InvoiceDAO(session).lines(invoice.id)
    return schemas.InvoiceDetail(
        **schemas.Invoice.model_validate(invoice).model_dump(),
        lines=[schemas.InvoiceLine.model_validate(line) for line in lines],
    )


async def draft_statement(
    session: AsyncSession,
    settings: BillingSettings,
    account_id: uuid.UUID,
    start: datetime,
    end: datetime,
) -> Invoice:
    """The account's statement for [start, end): created once, with lines from the ledger."""
    dao = InvoiceDAO(session)
    account = await AccountDAO(session).get_or_404(account_id)
    invoice_id = await dao.insert_statement_once(
        account_id=account.id,
        period_start=start,
        period_end=end,
        currency=account.currency,
        seller=seller(settings),
        buyer=buyer(account),
    )
    if invoice_id is None:  # made before: it keeps the lines it got then
        return await dao.get_by(account_id=account.id, period_start=start, kind=InvoiceKind.INVOICE)
    lines: list[tuple[str, str, int]] = []
    for row in await dao.usage_lines(account.id, start, end):
        lines.append((f"{row.app} · {row.plan_key}", f"{row.minutes / 60:.2f} h", row.amount))
    payments = 0
    for row in await dao.other_entries(account.id, start, end):
        if row.kind in (EntryKind.TOPUP, EntryKind.REFUND):
            payments += row.amount
        else:  # adjustments and credit notes: a debit is a charge, a credit reduces them
            lines.append((row.description[:300], row.occurred_at.strftime("%Y-%m-%d"), -row.amount))
    for position, (description, quantity, amount) in enumerate(lines, start=1):
        session.add(
            InvoiceLine(
                invoice_id=invoice_id,
                position=position,
                description=description,
                quantity=quantity,
                amount=amount,
            )
        )
    invoice = await dao.get(invoice_id)
    invoice.total = sum(amount for _, _, amount in lines)
    invoice.payments_total = payments
    invoice.opening_balance = await dao.balance_before(account.id, start)
    invoice.closing_balance = await dao.balance_before(account.id, end)
    await session.flush()
    return invoice


async def finalize(
    session: AsyncSession, settings: BillingSettings, invoice_id: uuid.UUID
) -> Invoice:
    dao = InvoiceDAO(session)
    invoice = await dao.for_update(invoice_id)
    if invoice is None:
        raise NotFound("Invoice not found")
    if invoice.status == InvoiceStatus.FINALIZED:
        return invoice
    series = "INV" if invoice.kind == InvoiceKind.INVOICE else "CN"
    number = await dao.take_number(series)
    invoice.number = f"{series}-{number:06d}"
    invoice.status = InvoiceStatus.FINALIZED
    invoice.issued_at = datetime.now(UTC)
    await session.flush()
    if invoice.kind == InvoiceKind.INVOICE:
        await _notify_ready(session, settings, invoice)
    return invoice


async def _notify_ready(session: AsyncSession, settings: BillingSettings, invoice: Invoice):
    context = {
        "number": invoice.number,
        "period": f"{invoice.period_start:%Y-%m}",
        "total": format_amount(invoice.total, invoice.currency),
        "closing_balance": format_amount(invoice.closing_balance, invoice.currency),
    }
    await dunning.owe_notice(
        session,
        settings,
        account_id=invoice.account_id,
        kind=NoticeKind.INVOICE_READY,
        key=f"invoice_ready:{invoice.id}",
        context=context,
    )


async def request_run(session: AsyncSession, period: str) -> str:
    """Queue the run of a well-formed period; the run itself refuses a month not ended."""
    month_bounds(period)
    return await enqueue_task(session, Task.RUN_INVOICES, queue=QUEUE, kwargs={"period": period})


async def run_period(session: AsyncSession, settings: BillingSettings, period: str) -> int:
    """Draft every active wallet's statement for the period; finalize them in chunked tasks."""
    start, end = month_bounds(period)
    if end > datetime.now(UTC):
        raise Unprocessable("Only a month that has ended can be invoiced")
    ids = []
    for account_id in await InvoiceDAO(session).active_wallets(start, end):
        invoice = await draft_statement(session, settings, account_id, start, end)
        if invoice.status == InvoiceStatus.DRAFT:
            ids.append(str(invoice.id))
    for n in range(0, len(ids), FINALIZE_CHUNK):
        await enqueue_task(
            session,
            Task.FINALIZE_INVOICES,
            queue=QUEUE,
            kwargs={"invoice_ids": ids[n : n + FINALIZE_CHUNK]},
        )
    return len(ids)


async def credit_note(
    session: AsyncSession,
    settings: BillingSettings,
    invoice_id: uuid.UUID,
    *,
    amount: int,
    reason: str,
    caused_by: str,
) -> Invoice:
    """Correct a finalized invoice: a numbered credit note, and the amount back to the wallet."""
    dao = InvoiceDAO(session)
    invoice = await dao.for_update(invoice_id)
    if invoice is None:
        raise NotFound("Invoice not found")
    if invoice.kind != InvoiceKind.INVOICE or invoice.status != InvoiceStatus.FINALIZED:
        raise Conflict("Only a finalized invoice can be corrected by a credit note")
    creditable = invoice.total - await dao.credited_total(invoice.id)
    if amount > creditable:
        raise Unprocessable(
            "The credit exceeds what is left of the invoice",
            code="amount_out_of_range",
            details={"creditable": creditable},
        )
    account = await AccountDAO(session).get_or_404(invoice.account_id)
    note = await dao.create(
        id=uuid.uuid4(),
        account_id=account.id,
        kind=InvoiceKind.CREDIT_NOTE,
        status=InvoiceStatus.DRAFT,
        period_start=invoice.period_start,
        period_end=invoice.period_end,
        currency=invoice.currency,
        total=-amount,
        seller=seller(settings),
        buyer=buyer(account),
        corrects_invoice_id=invoice.id,
        reason=reason,
    )
    session.add(
        InvoiceLine(
            invoice_id=note.id,
            position=1,
            description=f"Credit for {invoice.number}: {reason}"[:300],
            quantity="1",
            amount=-amount,
        )
    )
    await session.flush()
    note = await finalize(session, settings, note.id)
    adjustments = await AccountDAO(session).system_account(
        AccountKind.ADJUSTMENTS, account.currency
    )
    await post(
        session,
        kind=EntryKind.CREDIT_NOTE,
        key=f"credit_note:{note.id}",
        description=f"Credit note {note.number} for {invoice.number}: {reason}",
        caused_by=caused_by,
        currency=account.currency,
        legs=[Leg(account.id, amount), Leg(adjustments, -amount)],
    )
    await dunning.after_credit(session, settings, [account.id])
    return note
