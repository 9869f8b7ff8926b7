"""Invoices: my statements and their PDFs; admins browse, run a month, and credit."""

import uuid
from typing import Annotated

from fastapi import Query, Request
from fastapi.responses import Response

from berth_billing import idempotency
from berth_billing.deps import SettingsDep, actor
from berth_billing.enums import InvoiceKind, InvoiceStatus
from berth_billing.idempotency import IdempotencyHeader, IdempotencyKeyRequired
from berth_billing.invoices import pdf, schemas, service
from berth_billing.invoices.dao import InvoiceDAO
from berth_billing.models import Invoice
from berth_common.db import SessionDep
from berth_common.errors import (
    Conflict,
    NotFound,
    Unprocessable,
    error_responses,
)
from berth_common.pagination import PageDep
from berth_common.routing import role_router, user_router
from berth_common.security import AdminUser, CurrentUserId

API = "/api/billing/v1"
Period = Annotated[str | None, Query(pattern=r"^\d{4}-(0[1-9]|1[0-2])$")]

router = user_router(prefix=f"{API}/invoices", tags=["invoices"])


@router.get("", response_model=schemas.InvoicePage)
async def my_invoices(
    owner_id: CurrentUserId, session: SessionDep, params: PageDep
) -> schemas.InvoicePage:
    items, total = await service.statements_of(session, owner_id, params)
    return schemas.InvoicePage.build(
        [schemas.Invoice.model_validate(i) for i in items], total, params
    )


@router.get(
    "/{invoice_id}", response_model=schemas.InvoiceDetail, responses=error_responses(NotFound)
)
async def my_invoice(
    invoice_id: uuid.UUID, owner_id: CurrentUserId, session: SessionDep
) -> schemas.InvoiceDetail:
    invoice = await service.statement_of(session, owner_id, invoice_id)
    return await service.detail(session, invoice)


def _pdf_response(invoice: Invoice, lines) -> Response:
    name = invoice.number or f"draft-{invoice.id}"
    return Response(
        pdf.render(invoice, lines),
        media_type="application/pdf",
        headers={"Content-Disposition": f'attachment; filename="{name}.pdf"'},
    )


@router.get(
    "/{invoice_id}/pdf",
    response_class=Response,
    responses={**error_responses(NotFound), 200: {"content": {"application/pdf": {}}}},
)
async def my_invoice_pdf(invoice_id: uuid.UUID, owner_id: CurrentUserId, session: SessionDep):
    invoice = await service.statement_of(session, owner_id, invoice_id)
    return _pdf_response(invoice, await InvoiceDAO(session).lines(invoice.id))


admin_router = role_router("admin", prefix=f"{API}/admin/invoices", tags=["admin"])


@admin_router.get("", response_model=schemas.AdminInvoicePage)
async def browse_invoices(
    session: SessionDep,
    params: PageDep,
    account_id: uuid.UUID | None = None,
    status: InvoiceStatus | None = None,
    kind: InvoiceKind | None = None,
    period: Period = None,
) -> schemas.AdminInvoicePage:
    dao = InvoiceDAO(session)
    start = service.month_bounds(period)[0] if period else None
    where = dao.filters(account_id=account_id, status=status, kind=kind, period_start=start)
    items, total = await dao.list(params, *where)
    return schemas.AdminInvoicePage.build(
        [schemas.AdminInvoice.model_validate(i) for i in items], total, params
    )


@admin_router.get(
    "/{invoice_id}", response_model=schemas.InvoiceDetail, responses=error_responses(NotFound)
)
async def admin_invoice(invoice_id: uuid.UUID, session: SessionDep) -> schemas.InvoiceDetail:
    invoice = await InvoiceDAO(session).get_or_404(invoice_id)
    return await service.detail(session, invoice)


@admin_router.get(
    "/{invoice_id}/pdf",
    response_class=Response,
    responses={**error_responses(NotFound), 200: {"content": {"application/pdf": {}}}},
)
async def admin_invoice_pdf(invoice_id: uuid.UUID, session: SessionDep):
    dao = InvoiceDAO(session)
    invoice = await dao.get_or_404(invoice_id)
    return _pdf_response(invoice, await dao.lines(invoice.id))


@admin_router.post(
    "/runs",
    status_code=202,
    response_model=schemas.InvoiceRunAccepted,
    responses=error_responses(Unprocessable),
    description="Draft every active account's statement of a month that ended, and queue "
    "their finalization (numbers are assigned then). Running a month again adds nothing.",
)
async def run_invoices(
    body: schemas.InvoiceRunCreate, session: SessionDep, settings: SettingsDep
) -> schemas.InvoiceRunAccepted:
    return schemas.InvoiceRunAccepted(task_ids=[await service.request_run(session, body.period)])


@admin_router.post(
    "/{invoice_id}/credit-notes",
    status_code=201,
    response_model=schemas.Invoice,
    responses=error_responses(NotFound, Conflict, Unprocessable, IdempotencyKeyRequired),
    description="Correct a finalized invoice; the amount goes back to the wallet. "
    "Requires an Idempotency-Key.",
)
async def create_credit_note(
    invoice_id: uuid.UUID,
    body: schemas.CreditNoteCreate,
    request: Request,
    admin: AdminUser,
    session: SessionDep,
    settings: SettingsDep,
    idempotency_key: IdempotencyHeader = None,
):
    if not idempotency_key:
        raise IdempotencyKeyRequired("Credit notes need an Idempotency-Key header")
    scope = actor(admin)

    async def work():
        note = await service.credit_note(
            session, settings, invoice_id, amount=body.amount, reason=body.reason, caused_by=scope
        )
        return schemas.Invoice.model_validate(note)

    return await idempotency.once(
        session, scope=scope, key=idempotency_key, request=request, body=body, work=work
    )
