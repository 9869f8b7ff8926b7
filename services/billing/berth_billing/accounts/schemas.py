import uuid
from datetime import UTC, date, datetime

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from berth_billing.enums import AccountState, EntryKind
from berth_common.errors import Unprocessable
from berth_common.pagination import Page


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
    # the service tier (chat's retention, tickets' SLA follow it)
    tier: str
    negative_since: datetime | None
    grace_ends_at: datetime | None
    suspended_at: datetime | None
    low_balance_thresholds: list[int]
    created_at: datetime


class AccountPage(Page[Account]):
    pass


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


class LedgerEntryPage(Page[LedgerEntry]):
    pass


class RangeQuery(BaseModel):
    """A [from, to) time range filter."""

    since: datetime | None = Field(None, alias="from")
    until: datetime | None = Field(None, alias="to")

    @field_validator("since", "until")
    @classmethod
    def _utc_unless_told(cls, value: datetime | None) -> datetime | None:
        """A time without a zone is UTC (and compares with the stored ones)."""
        return value.replace(tzinfo=UTC) if value and value.tzinfo is None else value

    @model_validator(mode="after")
    def _range_is_forward(self) -> "RangeQuery":
        # a typed error (not ValueError): the route answers 422 with this message
        if self.since and self.until and self.since >= self.until:
            raise Unprocessable("`from` must be before `to`")
        return self


class LedgerQuery(RangeQuery):
    """The filters of a ledger page: an entry kind and a [from, to) time range."""

    kind: EntryKind | None = None


class UsageCharge(BaseModel):
    """What one instance cost in one hour; the wallet's usage entry of that pass over the
    hour (same transaction_id) is the sum of its charges."""

    model_config = ConfigDict(from_attributes=True)

    instance_id: uuid.UUID
    hour: datetime
    app_id: uuid.UUID | None
    app_slug: str | None
    plan_key: str
    minutes: int
    unit_price: int
    amount: int
    currency: str
    # None for a charge that rounded to zero (nothing posted)
    transaction_id: uuid.UUID | None


class UsageChargePage(Page[UsageCharge]):
    pass


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
