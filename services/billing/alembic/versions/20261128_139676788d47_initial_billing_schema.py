"""initial billing schema

Revision ID: 139676788d47
Revises:
Create Date: 2026-11-28 23:37:58.610776

"""

import re
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

# revision identifiers, used by Alembic.
revision: str = "139676788d47"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


# Ledger entries and transactions are append-only: corrections are new reversing entries.
APPEND_ONLY = """
CREATE FUNCTION billing.forbid_ledger_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'the ledger is append-only: % on %.% is not allowed',
        TG_OP, TG_TABLE_SCHEMA, TG_TABLE_NAME
        USING ERRCODE = 'restrict_violation';
END;
$$;
CREATE TRIGGER ledger_entries_append_only BEFORE UPDATE OR DELETE ON billing.ledger_entries
    FOR EACH ROW EXECUTE FUNCTION billing.forbid_ledger_change();
CREATE TRIGGER ledger_entries_no_truncate BEFORE TRUNCATE ON billing.ledger_entries
    FOR EACH STATEMENT EXECUTE FUNCTION billing.forbid_ledger_change();
CREATE TRIGGER ledger_transactions_append_only
    BEFORE UPDATE OR DELETE ON billing.ledger_transactions
    FOR EACH ROW EXECUTE FUNCTION billing.forbid_ledger_change();
CREATE TRIGGER ledger_transactions_no_truncate BEFORE TRUNCATE ON billing.ledger_transactions
    FOR EACH STATEMENT EXECUTE FUNCTION billing.forbid_ledger_change();
"""

# Per INSERT statement: every journal transaction it touches has two or more entries summing
# to zero per currency, entries are in their account's currency, and the balance cache of
# each account moves by the sum of its new entries. Accounts are locked in id order, FOR NO
# KEY UPDATE: that does not conflict with the KEY SHARE locks the entries' foreign keys take,
# so two postings to one account (the provider clearing account, say) queue, never deadlock.
# All entries of one transaction are therefore written by one INSERT statement.
POSTING = """
CREATE FUNCTION billing.ledger_entries_posted() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    bad record;
BEGIN
    SELECT e.transaction_id, e.currency, sum(e.amount) AS total INTO bad
    FROM billing.ledger_entries e
    WHERE e.transaction_id IN (SELECT DISTINCT n.transaction_id FROM new_rows n)
    GROUP BY e.transaction_id, e.currency
    HAVING sum(e.amount) <> 0
    LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'journal transaction % does not balance: % %',
            bad.transaction_id, bad.total, bad.currency USING ERRCODE = 'check_violation';
    END IF;
    SELECT e.transaction_id INTO bad
    FROM billing.ledger_entries e
    WHERE e.transaction_id IN (SELECT DISTINCT n.transaction_id FROM new_rows n)
    GROUP BY e.transaction_id
    HAVING count(*) < 2
    LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'journal transaction % needs at least two entries',
            bad.transaction_id USING ERRCODE = 'check_violation';
    END IF;
    IF EXISTS (
        SELECT 1 FROM new_rows n JOIN billing.accounts a ON a.id = n.account_id
        WHERE a.currency <> n.currency
    ) THEN
        RAISE EXCEPTION 'a ledger entry is not in its account''s currency'
            USING ERRCODE = 'check_violation';
    END IF;
    PERFORM 1 FROM billing.accounts
    WHERE id IN (SELECT DISTINCT n.account_id FROM new_rows n)
    ORDER BY id
    FOR NO KEY UPDATE;
    UPDATE billing.accounts a SET balance = a.balance + s.total
    FROM (SELECT n.account_id, sum(n.amount) AS total FROM new_rows n GROUP BY n.account_id) s
    WHERE a.id = s.account_id;
    RETURN NULL;
END;
$$;
CREATE TRIGGER ledger_entries_posted AFTER INSERT ON billing.ledger_entries
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION billing.ledger_entries_posted();
"""

# A finalized invoice (or credit note) and its lines never change again.
INVOICES_FROZEN = """
CREATE FUNCTION billing.forbid_finalized_invoice_change() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF OLD.status = 'finalized' THEN
        RAISE EXCEPTION 'invoice % is finalized: correct it with a credit note', OLD.number
            USING ERRCODE = 'restrict_violation';
    END IF;
    IF TG_OP = 'DELETE' THEN
        RETURN OLD;
    END IF;
    RETURN NEW;
END;
$$;
CREATE TRIGGER invoices_frozen BEFORE UPDATE OR DELETE ON billing.invoices
    FOR EACH ROW EXECUTE FUNCTION billing.forbid_finalized_invoice_change();

CREATE FUNCTION billing.forbid_finalized_line_change() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    invoice uuid;
BEGIN
    IF TG_OP = 'DELETE' THEN
        invoice := OLD.invoice_id;
    ELSE
        invoice := NEW.invoice_id;
    END IF;
    IF EXISTS (SELECT 1 FROM billing.invoices WHERE id = invoice AND status = 'finalized')
       OR (TG_OP = 'UPDATE' AND EXISTS (
            SELECT 1 FROM billing.invoices WHERE id = OLD.invoice_id AND status = 'finalized'))
    THEN
        RAISE EXCEPTION 'lines of a finalized invoice cannot change'
            USING ERRCODE = 'restrict_violation';
    END IF;
    IF TG_OP = 'DELETE' THEN
        RETURN OLD;
    END IF;
    RETURN NEW;
END;
$$;
CREATE TRIGGER invoice_lines_frozen BEFORE INSERT OR UPDATE OR DELETE ON billing.invoice_lines
    FOR EACH ROW EXECUTE FUNCTION billing.forbid_finalized_line_change();
"""

DROP_TRIGGERS = """
DROP TRIGGER IF EXISTS invoice_lines_frozen ON billing.invoice_lines;
DROP FUNCTION IF EXISTS billing.forbid_finalized_line_change();
DROP TRIGGER IF EXISTS invoices_frozen ON billing.invoices;
DROP FUNCTION IF EXISTS billing.forbid_finalized_invoice_change();
DROP TRIGGER IF EXISTS ledger_entries_posted ON billing.ledger_entries;
DROP FUNCTION IF EXISTS billing.ledger_entries_posted();
DROP TRIGGER IF EXISTS ledger_entries_append_only ON billing.ledger_entries;
DROP TRIGGER IF EXISTS ledger_entries_no_truncate ON billing.ledger_entries;
DROP TRIGGER IF EXISTS ledger_transactions_append_only ON billing.ledger_transactions;
DROP TRIGGER IF EXISTS ledger_transactions_no_truncate ON billing.ledger_transactions;
DROP FUNCTION IF EXISTS billing.forbid_ledger_change();
"""


def _statements(block: str) -> list[str]:
    """asyncpg runs one statement per call: split a block at its top-level CREATE/DROP."""
    return [part.strip() for part in re.split(r"\n(?=CREATE |DROP )", block) if part.strip()]


PLANS = [
    ("web-small", "Web app, small", "A web process with 512 MB of memory"),
    ("static-small", "Static site, small", "A static site served from a small container"),
    ("worker-small", "Worker, small", "A background worker or bot with 512 MB of memory"),
    ("agent-small", "AI agent, small", "An AI agent runtime with 1 GB of memory"),
    ("n8n-small", "n8n, small", "An n8n instance with 1 GB of memory"),
]


def upgrade() -> None:
    """Upgrade schema."""
    # ### commands auto generated by Alembic - please adjust! ###
    op.create_table(
        "accounts",
        sa.Column("id", sa.UUID(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("kind", sa.String(length=24), nullable=False),
        sa.Column("owner_id", sa.UUID(), nullable=True),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("balance", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("email", sa.String(length=254), nullable=True),
        sa.Column("name", sa.String(length=120), nullable=True),
        sa.Column("negative_since", sa.DateTime(timezone=True), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint(
            "(kind = 'wallet') = (owner_id IS NOT NULL)", name=op.f("ck_accounts_wallet_owner")
        ),
        sa.CheckConstraint(
            "kind IN ('wallet', 'revenue', 'provider_clearing', 'adjustments')",
            name=op.f("ck_accounts_kind"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_accounts")),
        schema="billing",
    )
    op.create_index(
        "ix_accounts_negative",
        "accounts",
        ["negative_since"],
        unique=False,
        schema="billing",
        postgresql_where=sa.text("balance < 0"),
    )
    op.create_index(
        "uq_accounts_owner",
        "accounts",
        ["owner_id"],
        unique=True,
        schema="billing",
        postgresql_where=sa.text("owner_id IS NOT NULL"),
    )
    op.create_index(
        "uq_accounts_system",
        "accounts",
        ["kind", "currency"],
        unique=True,
        schema="billing",
        postgresql_where=sa.text("owner_id IS NULL"),
    )
    op.create_table(
        "idempotency_keys",
        sa.Column("principal", sa.String(length=120), nullable=False),
        sa.Column("key", sa.String(length=255), nullable=False),
        sa.Column("fingerprint", sa.String(length=64), nullable=False),
        sa.Column("status_code", sa.Integer(), nullable=True),
        sa.Column("response", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("principal", "key", name=op.f("pk_idempotency_keys")),
        schema="billing",
    )
    op.create_table(
        "invoice_counters",
        sa.Column("series", sa.String(length=16), nullable=False),
        sa.Column("next_number", sa.BigInteger(), server_default="1", nullable=False),
        sa.PrimaryKeyConstraint("series", name=op.f("pk_invoice_counters")),
        schema="billing",
    )
    op.create_table(
        "ledger_transactions",
        sa.Column("id", sa.UUID(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("kind", sa.String(length=24), nullable=False),
        sa.Column("key", sa.String(length=160), nullable=False),
        sa.Column("description", sa.String(length=500), nullable=False),
        sa.Column("caused_by", sa.String(length=120), nullable=False),
        sa.Column(
            "occurred_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ledger_transactions")),
        sa.UniqueConstraint("key", name=op.f("uq_ledger_transactions_key")),
        schema="billing",
    )
    op.create_table(
        "metering_runs",
        sa.Column("id", sa.UUID(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("hour", sa.DateTime(timezone=True), nullable=False),
        sa.Column("triggered_by", sa.String(length=120), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("charges", sa.Integer(), server_default="0", nullable=False),
        sa.Column("amount", sa.BigInteger(), server_default="0", nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_metering_runs")),
        schema="billing",
    )
    op.create_index(
        "ix_metering_runs_hour",
        "metering_runs",
        ["hour", "finished_at"],
        unique=False,
        schema="billing",
    )
    op.create_table(
        "outbox",
        sa.Column("id", sa.UUID(as_uuid=False), nullable=False),
        sa.Column("exchange", sa.String(length=128), nullable=False),
        sa.Column("routing_key", sa.String(length=128), nullable=False),
        sa.Column("headers", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column(
            "properties",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'{}'::jsonb"),
            nullable=False,
        ),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("mandatory", sa.Integer(), server_default="1", nullable=False),
        sa.Column(
            "available_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("published_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("attempts", sa.Integer(), server_default="0", nullable=False),
        sa.Column("last_error", sa.String(length=500), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_outbox")),
        schema="billing",
    )
    op.create_index(
        "ix_outbox_unpublished",
        "outbox",
        ["available_at"],
        unique=False,
        schema="billing",
        postgresql_where=sa.text("published_at IS NULL"),
    )
    op.create_table(
        "plans",
        sa.Column("key", sa.String(length=48), nullable=False),
        sa.Column("name", sa.String(length=120), nullable=False),
        sa.Column("description", sa.String(length=500), server_default="", nullable=False),
        sa.Column("is_active", sa.Boolean(), server_default="true", nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_plans")),
        schema="billing",
    )
    op.create_table(
        "processed_events",
        sa.Column("event_id", sa.UUID(as_uuid=False), nullable=False),
        sa.Column("key", sa.String(length=128), nullable=False),
        sa.Column(
            "processed_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("event_id", name=op.f("pk_processed_events")),
        schema="billing",
    )
    op.create_table(
        "balance_watches",
        sa.Column("account_id", sa.UUID(), nullable=False),
        sa.Column("threshold", sa.BigInteger(), nullable=False),
        sa.Column("armed", sa.Boolean(), server_default="true", nullable=False),
        sa.Column("crossings", sa.Integer(), server_default="0", nullable=False),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["billing.accounts.id"],
            name=op.f("fk_balance_watches_account_id_accounts"),
        ),
        sa.PrimaryKeyConstraint("account_id", "threshold", name=op.f("pk_balance_watches")),
        schema="billing",
    )
    op.create_table(
        "invoices",
        sa.Column("id", sa.UUID(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("account_id", sa.UUID(), nullable=False),
        sa.Column("kind", sa.String(length=16), server_default="invoice", nullable=False),
        sa.Column("status", sa.String(length=16), server_default="draft", nullable=False),
        sa.Column("number", sa.String(length=32), nullable=True),
        sa.Column("period_start", sa.DateTime(timezone=True), nullable=False),
        sa.Column("period_end", sa.DateTime(timezone=True), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("total", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("opening_balance", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("closing_balance", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("payments_total", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("seller", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("buyer", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("corrects_invoice_id", sa.UUID(), nullable=True),
        sa.Column("reason", sa.String(length=500), nullable=True),
        sa.Column("issued_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint(
            "(status = 'finalized') = (number IS NOT NULL)", name=op.f("ck_invoices_numbered")
        ),
        sa.CheckConstraint("kind IN ('invoice', 'credit_note')", name=op.f("ck_invoices_kind")),
        sa.CheckConstraint("status IN ('draft', 'finalized')", name=op.f("ck_invoices_status")),
        sa.ForeignKeyConstraint(
            ["account_id"], ["billing.accounts.id"], name=op.f("fk_invoices_account_id_accounts")
        ),
        sa.ForeignKeyConstraint(
            ["corrects_invoice_id"],
            ["billing.invoices.id"],
            name=op.f("fk_invoices_corrects_invoice_id_invoices"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_invoices")),
        sa.UniqueConstraint("number", name=op.f("uq_invoices_number")),
        schema="billing",
    )
    op.create_index(
        "ix_invoices_account_created",
        "invoices",
        ["account_id", "created_at"],
        unique=False,
        schema="billing",
    )
    op.create_index(
        "uq_invoices_account_period",
        "invoices",
        ["account_id", "period_start"],
        unique=True,
        schema="billing",
        postgresql_where=sa.text("kind = 'invoice'"),
    )
    op.create_table(
        "ledger_entries",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("transaction_id", sa.UUID(), nullable=False),
        sa.Column("account_id", sa.UUID(), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("kind", sa.String(length=24), nullable=False),
        sa.Column("memo", sa.String(length=300), server_default="", nullable=False),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint("amount <> 0", name=op.f("ck_ledger_entries_non_zero")),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["billing.accounts.id"],
            name=op.f("fk_ledger_entries_account_id_accounts"),
        ),
        sa.ForeignKeyConstraint(
            ["transaction_id"],
            ["billing.ledger_transactions.id"],
            name=op.f("fk_ledger_entries_transaction_id_ledger_transactions"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ledger_entries")),
        schema="billing",
    )
    op.create_index(
        "ix_ledger_entries_account",
        "ledger_entries",
        ["account_id", "occurred_at"],
        unique=False,
        schema="billing",
    )
    op.create_index(
        "ix_ledger_entries_transaction",
        "ledger_entries",
        ["transaction_id"],
        unique=False,
        schema="billing",
    )
    op.create_table(
        "notices",
        sa.Column("id", sa.UUID(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("account_id", sa.UUID(), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("context", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["account_id"], ["billing.accounts.id"], name=op.f("fk_notices_account_id_accounts")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notices")),
        sa.UniqueConstraint("key", name=op.f("uq_notices_key")),
        schema="billing",
    )
    op.create_table(
        "payments",
        sa.Column("id", sa.UUID(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("account_id", sa.UUID(), nullable=False),
        sa.Column("owner_id", sa.UUID(), nullable=False),
        sa.Column("provider", sa.String(length=32), nullable=False),
        sa.Column("provider_payment_id", sa.String(length=128), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("status", sa.String(length=16), server_default="pending", nullable=False),
        sa.Column("refunded_amount", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("checkout_url", sa.String(length=500), nullable=True),
        sa.Column("checkout_decision", sa.String(length=16), nullable=True),
        sa.Column("failure_reason", sa.String(length=300), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("completed_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("amount > 0", name=op.f("ck_payments_positive")),
        sa.CheckConstraint(
            "refunded_amount >= 0 AND refunded_amount <= amount", name=op.f("ck_payments_refund_le")
        ),
        sa.ForeignKeyConstraint(
            ["account_id"], ["billing.accounts.id"], name=op.f("fk_payments_account_id_accounts")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_payments")),
        sa.UniqueConstraint(
            "provider", "provider_payment_id", name=op.f("uq_payments_provider_provider_payment_id")
        ),
        schema="billing",
    )
    op.create_index(
        "ix_payments_account_created",
        "payments",
        ["account_id", "created_at"],
        unique=False,
        schema="billing",
    )
    op.create_table(
        "plan_prices",
        sa.Column("id", sa.UUID(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("plan_key", sa.String(length=48), nullable=False),
        sa.Column("amount_per_hour", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("valid_from", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(length=120), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint(
            "valid_from = date_trunc('hour', valid_from)", name=op.f("ck_plan_prices_full_hour")
        ),
        sa.CheckConstraint("amount_per_hour >= 0", name=op.f("ck_plan_prices_non_negative")),
        sa.ForeignKeyConstraint(
            ["plan_key"], ["billing.plans.key"], name=op.f("fk_plan_prices_plan_key_plans")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_plan_prices")),
        sa.UniqueConstraint(
            "plan_key", "valid_from", name=op.f("uq_plan_prices_plan_key_valid_from")
        ),
        schema="billing",
    )
    op.create_table(
        "suspensions",
        sa.Column("id", sa.UUID(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("account_id", sa.UUID(), nullable=False),
        sa.Column("owner_id", sa.UUID(), nullable=False),
        sa.Column("reason", sa.String(length=32), nullable=False),
        sa.Column(
            "suspended_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("lifted_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["account_id"], ["billing.accounts.id"], name=op.f("fk_suspensions_account_id_accounts")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_suspensions")),
        schema="billing",
    )
    op.create_index(
        "uq_suspensions_open",
        "suspensions",
        ["account_id"],
        unique=True,
        schema="billing",
        postgresql_where=sa.text("lifted_at IS NULL"),
    )
    op.create_table(
        "usage_charges",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("instance_id", sa.UUID(), nullable=False),
        sa.Column("hour", sa.DateTime(timezone=True), nullable=False),
        sa.Column("account_id", sa.UUID(), nullable=False),
        sa.Column("app_id", sa.UUID(), nullable=True),
        sa.Column("app_slug", sa.String(length=120), nullable=True),
        sa.Column("plan_key", sa.String(length=48), nullable=False),
        sa.Column("minutes", sa.Integer(), nullable=False),
        sa.Column("unit_price", sa.BigInteger(), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("transaction_id", sa.UUID(), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["billing.accounts.id"],
            name=op.f("fk_usage_charges_account_id_accounts"),
        ),
        sa.ForeignKeyConstraint(
            ["transaction_id"],
            ["billing.ledger_transactions.id"],
            name=op.f("fk_usage_charges_transaction_id_ledger_transactions"),
            initially="DEFERRED",
            deferrable=True,
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_usage_charges")),
        sa.UniqueConstraint("instance_id", "hour", name=op.f("uq_usage_charges_instance_id_hour")),
        schema="billing",
    )
    op.create_index(
        "ix_usage_charges_account_hour",
        "usage_charges",
        ["account_id", "hour"],
        unique=False,
        schema="billing",
    )
    op.create_index(
        "ix_usage_charges_transaction",
        "usage_charges",
        ["transaction_id"],
        unique=False,
        schema="billing",
    )
    op.create_table(
        "usage_intervals",
        sa.Column("instance_id", sa.UUID(), nullable=False),
        sa.Column("app_id", sa.UUID(), nullable=True),
        sa.Column("app_slug", sa.String(length=120), nullable=True),
        sa.Column("owner_id", sa.UUID(), nullable=False),
        sa.Column("account_id", sa.UUID(), nullable=False),
        sa.Column("plan_key", sa.String(length=48), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("stopped_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("stop_reason", sa.String(length=64), nullable=True),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["billing.accounts.id"],
            name=op.f("fk_usage_intervals_account_id_accounts"),
        ),
        sa.PrimaryKeyConstraint("instance_id", name=op.f("pk_usage_intervals")),
        schema="billing",
    )
    op.create_index(
        "ix_usage_intervals_owner", "usage_intervals", ["owner_id"], unique=False, schema="billing"
    )
    op.create_index(
        "ix_usage_intervals_span",
        "usage_intervals",
        ["started_at", "stopped_at"],
        unique=False,
        schema="billing",
    )
    op.create_index(
        "ix_usage_intervals_updated",
        "usage_intervals",
        ["updated_at"],
        unique=False,
        schema="billing",
    )
    op.create_table(
        "invoice_lines",
        sa.Column("id", sa.UUID(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("invoice_id", sa.UUID(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("description", sa.String(length=300), nullable=False),
        sa.Column("quantity", sa.String(length=40), server_default="", nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["invoice_id"],
            ["billing.invoices.id"],
            name=op.f("fk_invoice_lines_invoice_id_invoices"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_invoice_lines")),
        sa.UniqueConstraint(
            "invoice_id", "position", name=op.f("uq_invoice_lines_invoice_id_position")
        ),
        schema="billing",
    )
    op.create_table(
        "outgoing_emails",
        sa.Column("id", sa.UUID(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("account_id", sa.UUID(), nullable=False),
        sa.Column("notice_id", sa.UUID(), nullable=True),
        sa.Column("to_address", sa.String(length=254), nullable=True),
        sa.Column("template", sa.String(length=48), nullable=False),
        sa.Column("subject", sa.String(length=200), nullable=False),
        sa.Column("body_text", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=16), server_default="pending", nullable=False),
        sa.Column("attempts", sa.Integer(), server_default="0", nullable=False),
        sa.Column("last_error", sa.String(length=500), nullable=True),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["billing.accounts.id"],
            name=op.f("fk_outgoing_emails_account_id_accounts"),
        ),
        sa.ForeignKeyConstraint(
            ["notice_id"], ["billing.notices.id"], name=op.f("fk_outgoing_emails_notice_id_notices")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_outgoing_emails")),
        sa.UniqueConstraint("notice_id", name=op.f("uq_outgoing_emails_notice_id")),
        schema="billing",
    )
    op.create_index(
        "ix_outgoing_emails_pending",
        "outgoing_emails",
        ["status", "created_at"],
        unique=False,
        schema="billing",
    )
    op.create_table(
        "refunds",
        sa.Column("id", sa.UUID(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("payment_id", sa.UUID(), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("reason", sa.String(length=500), nullable=False),
        sa.Column("created_by", sa.String(length=120), nullable=False),
        sa.Column("transaction_id", sa.UUID(), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint("amount > 0", name=op.f("ck_refunds_positive")),
        sa.ForeignKeyConstraint(
            ["payment_id"], ["billing.payments.id"], name=op.f("fk_refunds_payment_id_payments")
        ),
        sa.ForeignKeyConstraint(
            ["transaction_id"],
            ["billing.ledger_transactions.id"],
            name=op.f("fk_refunds_transaction_id_ledger_transactions"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_refunds")),
        schema="billing",
    )
    op.create_table(
        "webhook_events",
        sa.Column("id", sa.UUID(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("provider", sa.String(length=32), nullable=False),
        sa.Column("event_id", sa.String(length=128), nullable=False),
        sa.Column("type", sa.String(length=64), nullable=False),
        sa.Column("payment_id", sa.UUID(), nullable=True),
        sa.Column("payload", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("outcome", sa.String(length=32), nullable=False),
        sa.Column(
            "received_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["payment_id"],
            ["billing.payments.id"],
            name=op.f("fk_webhook_events_payment_id_payments"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_webhook_events")),
        sa.UniqueConstraint(
            "provider", "event_id", name=op.f("uq_webhook_events_provider_event_id")
        ),
        schema="billing",
    )
    # ### end Alembic commands ###

    for block in (APPEND_ONLY, POSTING, INVOICES_FROZEN):
        for statement in _statements(block):
            op.execute(statement)
    plans = sa.table(
        "plans", sa.column("key"), sa.column("name"), sa.column("description"), schema="billing"
    )
    op.bulk_insert(plans, [{"key": k, "name": n, "description": d} for k, n, d in PLANS])
    counters = sa.table(
        "invoice_counters", sa.column("series"), sa.column("next_number"), schema="billing"
    )
    op.bulk_insert(
        counters, [{"series": "INV", "next_number": 1}, {"series": "CN", "next_number": 1}]
    )


def downgrade() -> None:
    """Downgrade schema."""
    for statement in _statements(DROP_TRIGGERS):
        op.execute(statement)
    # ### commands auto generated by Alembic - please adjust! ###
    op.drop_table("webhook_events", schema="billing")
    op.drop_table("refunds", schema="billing")
    op.drop_index("ix_outgoing_emails_pending", table_name="outgoing_emails", schema="billing")
    op.drop_table("outgoing_emails", schema="billing")
    op.drop_table("invoice_lines", schema="billing")
    op.drop_index("ix_usage_intervals_updated", table_name="usage_intervals", schema="billing")
    op.drop_index("ix_usage_intervals_span", table_name="usage_intervals", schema="billing")
    op.drop_index("ix_usage_intervals_owner", table_name="usage_intervals", schema="billing")
    op.drop_table("usage_intervals", schema="billing")
    op.drop_index("ix_usage_charges_transaction", table_name="usage_charges", schema="billing")
    op.drop_index("ix_usage_charges_account_hour", table_name="usage_charges", schema="billing")
    op.drop_table("usage_charges", schema="billing")
    op.drop_index(
        "uq_suspensions_open",
        table_name="suspensions",
        schema="billing",
        postgresql_where=sa.text("lifted_at IS NULL"),
    )
    op.drop_table("suspensions", schema="billing")
    op.drop_table("plan_prices", schema="billing")
    op.drop_index("ix_payments_account_created", table_name="payments", schema="billing")
    op.drop_table("payments", schema="billing")
    op.drop_table("notices", schema="billing")
    op.drop_index("ix_ledger_entries_transaction", table_name="ledger_entries", schema="billing")
    op.drop_index("ix_ledger_entries_account", table_name="ledger_entries", schema="billing")
    op.drop_table("ledger_entries", schema="billing")
    op.drop_index(
        "uq_invoices_account_period",
        table_name="invoices",
        schema="billing",
        postgresql_where=sa.text("kind = 'invoice'"),
    )
    op.drop_index("ix_invoices_account_created", table_name="invoices", schema="billing")
    op.drop_table("invoices", schema="billing")
    op.drop_table("balance_watches", schema="billing")
    op.drop_table("processed_events", schema="billing")
    op.drop_table("plans", schema="billing")
    op.drop_index(
        "ix_outbox_unpublished",
        table_name="outbox",
        schema="billing",
        postgresql_where=sa.text("published_at IS NULL"),
    )
    op.drop_table("outbox", schema="billing")
    op.drop_index("ix_metering_runs_hour", table_name="metering_runs", schema="billing")
    op.drop_table("metering_runs", schema="billing")
    op.drop_table("ledger_transactions", schema="billing")
    op.drop_table("invoice_counters", schema="billing")
    op.drop_table("idempotency_keys", schema="billing")
    op.drop_index(
        "uq_accounts_system",
        table_name="accounts",
        schema="billing",
        postgresql_where=sa.text("owner_id IS NULL"),
    )
    op.drop_index(
        "uq_accounts_owner",
        table_name="accounts",
        schema="billing",
        postgresql_where=sa.text("owner_id IS NOT NULL"),
    )
    op.drop_index(
        "ix_accounts_negative",
        table_name="accounts",
        schema="billing",
        postgresql_where=sa.text("balance < 0"),
    )
    op.drop_table("accounts", schema="billing")
    # ### end Alembic commands ###
