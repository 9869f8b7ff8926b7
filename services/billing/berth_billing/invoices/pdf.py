"""An invoice as PDF (fpdf2), rendered from its frozen snapshot: the same bytes every time."""

from fpdf import FPDF

from berth_billing.enums import InvoiceKind
from berth_billing.models import Invoice, InvoiceLine
from berth_billing.money import format_amount

NEXT_LINE = {"new_x": "LMARGIN", "new_y": "NEXT"}


def _text(value: object) -> str:
    # the core PDF fonts cover Latin-1; anything else shows as '?'
    return str(value).encode("latin-1", "replace").decode("latin-1")


def render(invoice: Invoice, lines: list[InvoiceLine]) -> bytes:
    title = "Credit note" if invoice.kind == InvoiceKind.CREDIT_NOTE else "Statement"
    pdf = FPDF(format="A4")
    pdf.set_title(f"{title} {invoice.number or 'DRAFT'}")
    pdf.set_creation_date(invoice.issued_at or invoice.created_at)
    pdf.add_page()
    pdf.set_font("Helvetica", "B", 16)
    pdf.cell(0, 10, _text(f"{title} {invoice.number or '(draft)'}"), **NEXT_LINE)
    _parties(pdf, invoice)
    _lines_table(pdf, invoice, lines)
    _totals(pdf, invoice)
    pdf.ln(6)
    pdf.multi_cell(0, 4, "Prepaid hosting: charges were taken from the account balance.")
    return bytes(pdf.output())


def _parties(pdf: FPDF, invoice: Invoice) -> None:
    """Seller, buyer, period and issue date under the title."""
    pdf.set_font("Helvetica", size=10)
    seller, buyer = invoice.seller, invoice.buyer
    for line in (
        seller.get("name", ""),
        seller.get("address", ""),
        f"VAT ID: {seller['vat_id']}" if seller.get("vat_id") else "",
        seller.get("email", ""),
    ):
        if line:
            pdf.cell(0, 5, _text(line), **NEXT_LINE)
    pdf.ln(4)
    pdf.cell(
        0, 5, _text(f"Billed to: {buyer.get('name') or buyer.get('email') or ''}"), **NEXT_LINE
    )
    pdf.cell(0, 5, _text(f"Account: {buyer.get('account_id', '')}"), **NEXT_LINE)
    period = f"{invoice.period_start:%Y-%m-%d} to {invoice.period_end:%Y-%m-%d} (exclusive)"
    pdf.cell(0, 5, _text(f"Period: {period}"), **NEXT_LINE)
    if invoice.issued_at:
        pdf.cell(0, 5, f"Issued: {invoice.issued_at:%Y-%m-%d}", **NEXT_LINE)
    pdf.ln(4)


def _lines_table(pdf: FPDF, invoice: Invoice, lines: list[InvoiceLine]) -> None:
    pdf.set_font("Helvetica", "B", 10)
    pdf.cell(110, 7, "Description", border="B")
    pdf.cell(30, 7, "Quantity", border="B")
    pdf.cell(0, 7, "Amount", border="B", align="R", **NEXT_LINE)
    pdf.set_font("Helvetica", size=10)
    for item in lines:
        pdf.cell(110, 6, _text(item.description[:70]))
        pdf.cell(30, 6, _text(item.quantity))
        pdf.cell(0, 6, format_amount(item.amount, invoice.currency), align="R", **NEXT_LINE)


def _totals(pdf: FPDF, invoice: Invoice) -> None:
    """The total; then a statement's balances, or a credit note's reason."""
    pdf.set_font("Helvetica", "B", 10)
    pdf.cell(140, 8, "Total", border="T")
    total = format_amount(invoice.total, invoice.currency)
    pdf.cell(0, 8, total, border="T", align="R", **NEXT_LINE)
    pdf.set_font("Helvetica", size=9)
    if invoice.kind == InvoiceKind.INVOICE:
        for label, amount in (
            ("Balance at the start of the period", invoice.opening_balance),
            ("Payments less refunds", invoice.payments_total),
            ("Balance at the end of the period", invoice.closing_balance),
        ):
            pdf.cell(140, 5, label)
            pdf.cell(0, 5, format_amount(amount, invoice.currency), align="R", **NEXT_LINE)
    elif invoice.reason:
        pdf.ln(2)
        pdf.multi_cell(0, 5, _text(f"Reason: {invoice.reason}"))
