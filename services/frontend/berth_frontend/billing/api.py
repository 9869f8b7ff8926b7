"""Billing screens: balance and top-up with charts, the ledger with filters, invoices with
their PDFs; the top-up action (to the sandbox checkout) and the PDF download."""

import uuid
from typing import Any

from fastapi import Request
from starlette.responses import Response

from berth_frontend.billing import service
from berth_frontend.billing.service import PaymentStatus
from berth_frontend.panel.api import show
from berth_frontend.web import flash
from berth_frontend.web.access import CurrentViewer, panel_router
from berth_frontend.web.backends import ApiError, ServiceDown, sections
from berth_frontend.web.forms import read_form
from berth_frontend.web.money import format_money, to_minor
from berth_frontend.web.screens import PANEL, ScreenContext
from berth_frontend.web.tables import table_state

router = panel_router()


def _pending(payments: Any) -> bool:
    items = (payments or {}).get("items", [])
    return any(p["status"] == PaymentStatus.PENDING for p in items)


async def billing(ctx: ScreenContext) -> dict[str, Any]:
    caller = ctx.viewer.caller
    # payments first: billing credits a payment in the transaction that marks it succeeded, so
    # a balance read after "no payment pending" includes every credit (read in parallel, a
    # credit landing between the two reads showed a stale balance that never polled again)
    (payments,) = await sections(service.payments(ctx.backends, caller))
    account, usage = await sections(
        service.account(ctx.backends, caller),
        service.usage(ctx.backends, caller),
    )
    charts = None
    if account.ok and usage.ok:
        charts = service.charts(usage.data, account.data["balance"])
    return {
        "account": account,
        "payments": payments,
        "usage": usage,
        "charts": charts,
        "pending": _pending(payments.data),
        "topup_key": uuid.uuid4().hex,
        "topup_errors": {},
        "topup_amount": "",
    }


async def summary(ctx: ScreenContext) -> dict[str, Any]:
    # payments before the balance, for the reason given in billing() above
    (payments,) = await sections(service.payments(ctx.backends, ctx.viewer.caller))
    (account,) = await sections(service.account(ctx.backends, ctx.viewer.caller))
    pending = _pending(payments.data)
    settled = not pending and payments.ok and ctx.query.get("polling") == "1"
    # a payment just went through: the charts and figures of the whole screen change too
    headers = {"HX-Trigger": "billing-settled"} if settled else {}
    return {"account": account, "payments": payments, "pending": pending, "headers": headers}


async def ledger(ctx: ScreenContext) -> dict[str, Any]:
    table = table_state(ctx.query, filters={"kind": service.ENTRY_KINDS}, dates=("from", "to"))
    (entries,) = await sections(service.ledger(ctx.backends, ctx.viewer.caller, table))
    return {"entries": entries, "table": table, "kinds": service.ENTRY_KINDS}


async def usage(ctx: ScreenContext) -> dict[str, Any]:
    table = table_state(ctx.query, dates=("from", "to"))
    (charges,) = await sections(service.usage_charges(ctx.backends, ctx.viewer.caller, table))
    return {"charges": charges, "table": table}


async def invoices(ctx: ScreenContext) -> dict[str, Any]:
    table = table_state(ctx.query)
    (found,) = await sections(service.invoices(ctx.backends, ctx.viewer.caller, table))
    return {"invoices": found, "table": table}


@router.post("/partials/billing/topup")
async def topup(request: Request, viewer: CurrentViewer) -> Response:
    """Start a top-up and send the browser to the provider's checkout page."""
    form = await read_form(request)
    backends = request.app.state.backends
    try:
        wallet = await service.account(backends, viewer.caller)
        amount = to_minor(form.get("amount"), wallet["currency"])
        key = form.get("idempotency_key") or uuid.uuid4().hex
        payment = await service.topup(backends, viewer.caller, amount, wallet["currency"], key)
    except ValueError as exc:
        outcome = flash.failure(str(exc))
    except (ApiError, ServiceDown) as exc:
        if isinstance(exc, ApiError) and exc.status == 401:
            raise
        outcome = flash.from_exception(exc)
    else:
        if payment.get("checkout_url"):
            return Response(status_code=204, headers={"HX-Redirect": payment["checkout_url"]})
        outcome = flash.success(
            f"Top-up of {format_money(payment['amount'], payment['currency'])} is "
            f"{payment['status']}."
        )
    return await show(request, viewer, PANEL, "billing", full=False, flash=outcome)


@router.get("/panel/billing/invoices/{invoice_id}/pdf")
async def invoice_pdf(request: Request, viewer: CurrentViewer, invoice_id: uuid.UUID) -> Response:
    found = await service.invoice_pdf(request.app.state.backends, viewer.caller, str(invoice_id))
    return Response(
        found.content,
        media_type="application/pdf",
        headers={
            "Content-Disposition": found.headers.get(
                "content-disposition", f'attachment; filename="{invoice_id}.pdf"'
            ),
            "Cache-Control": "private, no-store",
        },
    )
