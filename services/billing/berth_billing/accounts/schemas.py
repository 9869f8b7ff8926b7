import uuid
from datetime import date, datetime

from pydantic import BaseModel, ConfigDict

from berth_billing.enums import AccountState, EntryKind


class Account(BaseModel):
    id: uuid.UUID
    owner_id: uuid.UUID
    email: str | None
    currency: str
    # integer minor units of `currency`; `exponent` says where the decimal point goes
    balance: int
    exponent: int
    balance_display: str
    state: AccountState
    negative_since: datetime | None
    grace_ends_at: datetime | None
    suspended_at: datetime | None
    low_balance_thresholds: list[int]
    created_at: datetime


class LedgerEntry(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    transaction_id: uuid.UUID
    kind: EntryKind
    amount: int
    currency: str
    memo: str
    description: str
    caused_by: str
    occurred_at: datetime
    created_at: datetime


class UsageDay(BaseModel):
    day: date
    usage: int
    other_debits: int
    credits: int


class UsageSeries(BaseModel):
    currency: str
    exponent: int
    days: list[UsageDay]
    total_usage: int
