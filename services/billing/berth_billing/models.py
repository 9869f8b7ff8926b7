"""Billing's tables, all in the `billing` schema.

Money columns are BIGINT minor units with a currency next to them. Idempotency lives in
unique constraints: (provider, provider_payment_id), (provider, event_id),
(instance_id, hour), one invoice per (account, period), ledger transaction keys and
Idempotency-Key rows. The triggers of the migrations make the ledger append-only, keep
every journal transaction balanced and `accounts.balance` equal to the sum of entries, check
the references of entries and usage charges per statement, keep accounts permanent, and
freeze finalized invoices.
"""

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    SmallInteger,
    String,
    UniqueConstraint,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.orm import Mapped, mapped_column

from berth_common.columns import now_timestamp, uuid_pk
from berth_common.db import make_base
from berth_common.mail import OutgoingEmailColumns
from berth_common.outbox import add_outbox_tables

SCHEMA = "billing"
Base = make_base(SCHEMA)
add_outbox_tables(Base.metadata)


class Account(Base):
    """A ledger account: one wallet per user, plus per-currency system accounts."""

    __tablename__ = "accounts"
    __table_args__ = (
        CheckConstraint(
            "kind IN ('wallet', 'revenue', 'provider_clearing', 'adjustments')", name="kind"
        ),
        CheckConstraint("(kind = 'wallet') = (owner_id IS NOT NULL)", name="wallet_owner"),
        CheckConstraint("shard >= 0 AND (kind <> 'wallet' OR shard = 0)", name="shard_range"),
        Index(
            "uq_accounts_owner",
            "owner_id",
            unique=True,
            postgresql_where=text("owner_id IS NOT NULL"),
        ),
        Index(
            "uq_accounts_system",
            "kind",
            "currency",
            "shard",
            unique=True,
            postgresql_where=text("owner_id IS NULL"),
        ),
        # not `WHERE balance < 0`: a predicate on balance would make every posting's balance
        # update write a new entry into each index (no HOT update); fillfactor 70 (migration)
        Index(
            "ix_accounts_negative",
            "negative_since",
            postgresql_where=text("negative_since IS NOT NULL"),
        ),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    kind: Mapped[str] = mapped_column(String(24), nullable=False)
    owner_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    currency: Mapped[str] = mapped_column(String(3), nullable=False)
    # a system account is N rows of one (kind, currency), one per shard, so that concurrent
    # postings lock different rows; its balance is the sum of its shards' (wallets: shard 0)
    shard: Mapped[int] = mapped_column(SmallInteger, nullable=False, server_default="0")
    # a cache of SUM(ledger_entries.amount) kept by a trigger; the entries are the truth
    balance: Mapped[int] = mapped_column(BigInteger, nullable=False, server_default="0")
    email: Mapped[str | None] = mapped_column(String(254))
    name: Mapped[str | None] = mapped_column(String(120))
    # the service tier the holder is entitled to (BILLING_ACCOUNT_TIERS); chat and tickets act on it
    tier: Mapped[str] = mapped_column(String(32), nullable=False, server_default="standard")
    # start of the current stretch below zero (the grace period counts from here)
    negative_since: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = now_timestamp()


class LedgerTransaction(Base):
    """A journal transaction: two or more entries summing to zero per currency."""

    __tablename__ = "ledger_transactions"

    id: Mapped[uuid.UUID] = uuid_pk()
    kind: Mapped[str] = mapped_column(String(24), nullable=False)
    # what makes it unique: "payment:<id>", "usage:<hour>:<run>", "adjustment:<id>", ...
    key: Mapped[str] = mapped_column(String(160), unique=True, nullable=False)
    description: Mapped[str] = mapped_column(String(500), nullable=False)
    # who or what caused it: "user:<id>", "admin:<id>", "provider:sandbox", "system:metering"
    caused_by: Mapped[str] = mapped_column(String(120), nullable=False)
    # when the movement belongs (usage: the hour charged); created_at is when it was written
    occurred_at: Mapped[datetime] = now_timestamp()
    created_at: Mapped[datetime] = now_timestamp()


class LedgerEntry(Base):
    __tablename__ = "ledger_entries"
    __table_args__ = (
        Index("ix_ledger_entries_account", "account_id", "occurred_at"),
        Index("ix_ledger_entries_transaction", "transaction_id"),
        CheckConstraint("amount <> 0", name="non_zero"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    # references checked per statement by the posting trigger (not per row: see the
    # ledger_at_scale migration); accounts and transactions are never deleted
    transaction_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), nullable=False)
    account_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), nullable=False)
    amount: Mapped[int] = mapped_column(BigInteger, nullable=False)
    currency: Mapped[str] = mapped_column(String(3), nullable=False)
    kind: Mapped[str] = mapped_column(String(24), nullable=False)
    memo: Mapped[str] = mapped_column(String(300), nullable=False, server_default="")
    occurred_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    created_at: Mapped[datetime] = now_timestamp()


class Plan(Base):
    __tablename__ = "plans"
    __table_args__ = (CheckConstraint("max_apps_per_owner >= 0", name="max_apps_nonnegative"),)

    key: Mapped[str] = mapped_column(String(48), primary_key=True)
    name: Mapped[str] = mapped_column(String(120), nullable=False)
    description: Mapped[str] = mapped_column(String(500), nullable=False, server_default="")
    is_active: Mapped[bool] = mapped_column(Boolean, nullable=False, server_default="true")
    # how many apps on this plan one person may have (deploy enforces it when an app is made)
    max_apps_per_owner: Mapped[int] = mapped_column(Integer, nullable=False, server_default="10")
    created_at: Mapped[datetime] = now_timestamp()


class PlanPrice(Base):
    """A plan's hourly price from `valid_from` (a full hour) until the next row's."""

    __tablename__ = "plan_prices"
    __table_args__ = (
        UniqueConstraint("plan_key", "valid_from"),
        CheckConstraint("amount_per_hour >= 0", name="non_negative"),
        CheckConstraint("valid_from = date_trunc('hour', valid_from)", name="full_hour"),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    plan_key: Mapped[str] = mapped_column(ForeignKey("plans.key"), nullable=False)
    amount_per_hour: Mapped[int] = mapped_column(BigInteger, nullable=False)
    currency: Mapped[str] = mapped_column(String(3), nullable=False)
    valid_from: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    created_by: Mapped[str] = mapped_column(String(120), nullable=False)
    created_at: Mapped[datetime] = now_timestamp()


class Payment(Base):
    __tablename__ = "payments"
    __table_args__ = (
        UniqueConstraint("provider", "provider_payment_id"),
        CheckConstraint("amount > 0", name="positive"),
        CheckConstraint("refunded_amount >= 0 AND refunded_amount <= amount", name="refund_le"),
        Index("ix_payments_account_created", "account_id", "created_at"),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    account_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("accounts.id"), nullable=False)
    owner_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), nullable=False)
    provider: Mapped[str] = mapped_column(String(32), nullable=False)
    provider_payment_id: Mapped[str] = mapped_column(String(128), nullable=False)
    amount: Mapped[int] = mapped_column(BigInteger, nullable=False)
    currency: Mapped[str] = mapped_column(String(3), nullable=False)
    # pending -> succeeded | failed; refunds move refunded_amount, not the status
    status: Mapped[str] = mapped_column(String(16), nullable=False, server_default="pending")
    refunded_amount: Mapped[int] = mapped_column(BigInteger, nullable=False, server_default="0")
    checkout_url: Mapped[str | None] = mapped_column(String(500))
    # the sandbox checkout page answers once: the decision taken there
    checkout_decision: Mapped[str | None] = mapped_column(String(16))
    failure_reason: Mapped[str | None] = mapped_column(String(300))
    created_at: Mapped[datetime] = now_timestamp()
    completed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class WebhookEvent(Base):
    __tablename__ = "webhook_events"
    __table_args__ = (UniqueConstraint("provider", "event_id"),)

    id: Mapped[uuid.UUID] = uuid_pk()
    provider: Mapped[str] = mapped_column(String(32), nullable=False)
    event_id: Mapped[str] = mapped_column(String(128), nullable=False)
    type: Mapped[str] = mapped_column(String(64), nullable=False)
    payment_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("payments.id"))
    payload: Mapped[dict[str, Any]] = mapped_column(JSONB, nullable=False)
    outcome: Mapped[str] = mapped_column(String(32), nullable=False)
    received_at: Mapped[datetime] = now_timestamp()


class Refund(Base):
    __tablename__ = "refunds"
    __table_args__ = (CheckConstraint("amount > 0", name="positive"),)

    id: Mapped[uuid.UUID] = uuid_pk()
    payment_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("payments.id"), nullable=False)
    amount: Mapped[int] = mapped_column(BigInteger, nullable=False)
    currency: Mapped[str] = mapped_column(String(3), nullable=False)
    reason: Mapped[str] = mapped_column(String(500), nullable=False)
    created_by: Mapped[str] = mapped_column(String(120), nullable=False)
    transaction_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("ledger_transactions.id"), nullable=False
    )
    created_at: Mapped[datetime] = now_timestamp()


class IdempotencyKey(Base):
    """A mutating call's key, its request fingerprint and the answer it got."""

    __tablename__ = "idempotency_keys"

    principal: Mapped[str] = mapped_column(String(120), primary_key=True)
    key: Mapped[str] = mapped_column(String(255), primary_key=True)
    fingerprint: Mapped[str] = mapped_column(String(64), nullable=False)
    status_code: Mapped[int | None] = mapped_column(Integer)
    response: Mapped[Any | None] = mapped_column(JSONB)
    created_at: Mapped[datetime] = now_timestamp()


class BalanceWatch(Base):
    """Armed while the balance is at or above the threshold; a crossing disarms it."""

    __tablename__ = "balance_watches"

    account_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("accounts.id"), primary_key=True)
    threshold: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    armed: Mapped[bool] = mapped_column(Boolean, nullable=False, server_default="true")
    crossings: Mapped[int] = mapped_column(Integer, nullable=False, server_default="0")
    updated_at: Mapped[datetime] = now_timestamp()


class Notice(Base):
    """A notice owed to an account holder; `key` makes each one happen once."""

    __tablename__ = "notices"

    id: Mapped[uuid.UUID] = uuid_pk()
    account_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("accounts.id"), nullable=False)
    kind: Mapped[str] = mapped_column(String(32), nullable=False)
    key: Mapped[str] = mapped_column(String(200), unique=True, nullable=False)
    context: Mapped[dict[str, Any]] = mapped_column(JSONB, nullable=False)
    created_at: Mapped[datetime] = now_timestamp()


class Suspension(Base):
    __tablename__ = "suspensions"
    __table_args__ = (
        Index(
            "uq_suspensions_open",
            "account_id",
            unique=True,
            postgresql_where=text("lifted_at IS NULL"),
        ),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    account_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("accounts.id"), nullable=False)
    owner_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), nullable=False)
    reason: Mapped[str] = mapped_column(String(32), nullable=False)
    suspended_at: Mapped[datetime] = now_timestamp()
    lifted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class OutgoingEmail(OutgoingEmailColumns, Base):
    """A notice's email; the address is resolved when sending (berth_billing.mail)."""

    __tablename__ = "outgoing_emails"
    __table_args__ = (Index("ix_outgoing_emails_pending", "status", "created_at"),)

    account_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("accounts.id"), nullable=False)
    notice_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("notices.id"), unique=True)
    to_address: Mapped[str | None] = mapped_column(String(254))
    template: Mapped[str] = mapped_column(String(48), nullable=False)


class InvoiceCounter(Base):
    """The next number of a series; locked FOR UPDATE by the finalizing transaction."""

    __tablename__ = "invoice_counters"

    series: Mapped[str] = mapped_column(String(16), primary_key=True)
    next_number: Mapped[int] = mapped_column(BigInteger, nullable=False, server_default="1")


class Invoice(Base):
    """A monthly statement (kind invoice) or a correction of one (kind credit_note)."""

    __tablename__ = "invoices"
    __table_args__ = (
        Index(
            "uq_invoices_account_period",
            "account_id",
            "period_start",
            unique=True,
            postgresql_where=text("kind = 'invoice'"),
        ),
        UniqueConstraint("number"),
        CheckConstraint("kind IN ('invoice', 'credit_note')", name="kind"),
        CheckConstraint("status IN ('draft', 'finalized')", name="status"),
        CheckConstraint("(status = 'finalized') = (number IS NOT NULL)", name="numbered"),
        Index("ix_invoices_account_created", "account_id", "created_at"),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    account_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("accounts.id"), nullable=False)
    kind: Mapped[str] = mapped_column(String(16), nullable=False, server_default="invoice")
    status: Mapped[str] = mapped_column(String(16), nullable=False, server_default="draft")
    number: Mapped[str | None] = mapped_column(String(32))
    period_start: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    period_end: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    currency: Mapped[str] = mapped_column(String(3), nullable=False)
    total: Mapped[int] = mapped_column(BigInteger, nullable=False, server_default="0")
    opening_balance: Mapped[int] = mapped_column(BigInteger, nullable=False, server_default="0")
    closing_balance: Mapped[int] = mapped_column(BigInteger, nullable=False, server_default="0")
    payments_total: Mapped[int] = mapped_column(BigInteger, nullable=False, server_default="0")
    seller: Mapped[dict[str, Any]] = mapped_column(JSONB, nullable=False)
    buyer: Mapped[dict[str, Any]] = mapped_column(JSONB, nullable=False)
    corrects_invoice_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("invoices.id"))
    reason: Mapped[str | None] = mapped_column(String(500))
    issued_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = now_timestamp()


class InvoiceLine(Base):
    __tablename__ = "invoice_lines"
    __table_args__ = (UniqueConstraint("invoice_id", "position"),)

    id: Mapped[uuid.UUID] = uuid_pk()
    invoice_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("invoices.id"), nullable=False)
    position: Mapped[int] = mapped_column(Integer, nullable=False)
    description: Mapped[str] = mapped_column(String(300), nullable=False)
    quantity: Mapped[str] = mapped_column(String(40), nullable=False, server_default="")
    amount: Mapped[int] = mapped_column(BigInteger, nullable=False)


# an account's tier changes live in their sub-package, on this Base (one metadata, one history)
from berth_billing.metering import models as _metering_models  # noqa: E402, F401
from berth_billing.tiers import models as _tier_models  # noqa: E402, F401
