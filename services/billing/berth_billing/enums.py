"""Billing's statuses and kinds as `StrEnum`s: the columns stay strings with these values.

The database's CHECK constraints (initial migration) hold the same values.
"""

from enum import StrEnum


class AccountKind(StrEnum):
    WALLET = "wallet"
    REVENUE = "revenue"
    PROVIDER_CLEARING = "provider_clearing"
    ADJUSTMENTS = "adjustments"


class AccountState(StrEnum):
    """What a holder's wallet allows; derived, not stored."""

    ACTIVE = "active"
    GRACE = "grace"
    SUSPENDED = "suspended"


class EntryKind(StrEnum):
    """The kind of a journal transaction and of its entries."""

    TOPUP = "topup"
    USAGE = "usage"
    REFUND = "refund"
    ADJUSTMENT = "adjustment"
    CREDIT_NOTE = "credit_note"


class AccountFilter(StrEnum):
    """The admin account search's `status` filter: a wallet below zero, or one suspended."""

    NEGATIVE = "negative"
    SUSPENDED = AccountState.SUSPENDED.value


class PaymentStatus(StrEnum):
    PENDING = "pending"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


class CheckoutDecision(StrEnum):
    PAY = "pay"
    DECLINE = "decline"


class InvoiceKind(StrEnum):
    INVOICE = "invoice"
    CREDIT_NOTE = "credit_note"


class InvoiceStatus(StrEnum):
    DRAFT = "draft"
    FINALIZED = "finalized"


class NoticeKind(StrEnum):
    """A notice owed to a holder; each is also the name of its email template."""

    LOW_BALANCE = "low_balance"
    GRACE_WARNING = "grace_warning"
    SUSPENDED = "suspended"
    INVOICE_READY = "invoice_ready"


class SuspensionReason(StrEnum):
    BILLING = "billing"
