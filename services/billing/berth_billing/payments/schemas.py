import uuid
from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field, StrictInt

from berth_billing.enums import PaymentStatus
from berth_common.pagination import Page

# far beyond any real amount, and inside BIGINT: an absurd number is refused by shape
ABSURD = 10**15


class TopUpCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    amount: StrictInt = Field(..., gt=0, le=ABSURD, description="minor units, e.g. cents")
    currency: str | None = Field(None, pattern=r"^[A-Za-z]{3}$")


class Payment(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    provider: str
    provider_payment_id: str
    amount: int
    currency: str
    status: PaymentStatus
    refunded_amount: int
    checkout_url: str | None
    failure_reason: str | None
    created_at: datetime
    completed_at: datetime | None


class PaymentPage(Page[Payment]):
    pass


class AdminPayment(Payment):
    account_id: uuid.UUID
    owner_id: uuid.UUID


class AdminPaymentPage(Page[AdminPayment]):
    pass


class RefundCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    amount: StrictInt | None = Field(
        None, gt=0, le=ABSURD, description="minor units; omit to refund what is left"
    )
    reason: str = Field(..., min_length=3, max_length=500)


class Refund(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    payment_id: uuid.UUID
    amount: int
    currency: str
    reason: str
    created_by: str
    transaction_id: uuid.UUID
    created_at: datetime


class WebhookAck(BaseModel):
    received: bool = True
    outcome: str
