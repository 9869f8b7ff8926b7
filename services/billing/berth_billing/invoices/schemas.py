import uuid
from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field, StrictInt

from berth_billing.enums import InvoiceKind, InvoiceStatus
from berth_billing.payments.schemas import ABSURD
from berth_common.pagination import Page


class InvoiceLine(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    position: int
    description: str
    quantity: str
    amount: int


class Invoice(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    kind: InvoiceKind
    status: InvoiceStatus
    number: str | None
    period_start: datetime
    period_end: datetime
    currency: str
    total: int
    opening_balance: int
    closing_balance: int
    payments_total: int
    seller: dict
    buyer: dict
    corrects_invoice_id: uuid.UUID | None
    reason: str | None
    issued_at: datetime | None
    created_at: datetime


class InvoicePage(Page[Invoice]):
    pass


class InvoiceDetail(Invoice):
    lines: list[InvoiceLine]


class AdminInvoice(Invoice):
    account_id: uuid.UUID


class AdminInvoicePage(Page[AdminInvoice]):
    pass


class InvoiceRunCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    period: str = Field(..., pattern=r"^\d{4}-(0[1-9]|1[0-2])$", examples=["2025-01"])


class CreditNoteCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    amount: StrictInt = Field(..., gt=0, le=ABSURD)
    reason: str = Field(..., min_length=3, max_length=500)


class InvoiceRunAccepted(BaseModel):
    accepted: bool = True
    drafted: int | None = None
    task_ids: list[str] = []
