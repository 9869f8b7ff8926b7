"""ledger at scale: sharded system accounts, set-based reference checks

Revision ID: 0dcff283bb60
Revises: ce99d928a5a7
Create Date: 2026-11-30 08:40:00

Two things capped money's throughput:

- Every credit posted a leg on ONE provider clearing account row, and the posting trigger
  locks each touched account until commit, so credits queued on that row. A system account
  now has a `shard` (0 for wallets): the clearing leg of a payment goes to shard
  hash(payment id) mod BILLING_CLEARING_SHARDS, and readers sum the shards of a
  (kind, currency).
- An hourly metering run writes a usage charge and a journal entry per running instance, and
  PostgreSQL checks a foreign key with one query per row (four per instance here: 4M queries
  for 1M instances, more than half the run). Those references are now checked per statement,
  by triggers that read the statement's new rows once; a ledger account can no longer be
  deleted or renumbered (which is what the foreign keys' locks guarded against), and journal
  transactions already could not be. The posting trigger also reads only the statement's
  new entries: earlier entries of a transaction were balanced when they were written and can
  never change, so the new ones must balance by themselves.
"""

import re
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0dcff283bb60"
down_revision: str | Sequence[str] | None = "ce99d928a5a7"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# (table, constraint, column, referred table, deferred): replaced by the triggers below
REFERENCES = [
    ("ledger_entries", "fk_ledger_entries_account_id_accounts", "account_id", "accounts", False),
    (
        "ledger_entries",
        "fk_ledger_entries_transaction_id_ledger_transactions",
        "transaction_id",
        "ledger_transactions",
        False,
    ),
    ("usage_charges", "fk_usage_charges_account_id_accounts", "account_id", "accounts", False),
    (
        "usage_charges",
        "fk_usage_charges_transaction_id_ledger_transactions",
        "transaction_id",
        "ledger_transactions",
        True,
    ),
]

# Ledger accounts are permanent: entries and charges refer to them by id.
ACCOUNTS_PERMANENT = """
CREATE FUNCTION billing.forbid_account_removal() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'ledger accounts are permanent: % on %.% is not allowed',
        TG_OP, TG_TABLE_SCHEMA, TG_TABLE_NAME
        USING ERRCODE = 'restrict_violation';
END;
$$;
CREATE TRIGGER accounts_no_delete BEFORE DELETE OR UPDATE OF id ON billing.accounts
    FOR EACH ROW EXECUTE FUNCTION billing.forbid_account_removal();
CREATE TRIGGER accounts_no_truncate BEFORE TRUNCATE ON billing.accounts
    FOR EACH STATEMENT EXECUTE FUNCTION billing.forbid_account_removal();
"""

# Per INSERT statement on ledger_entries, reading only its new rows (each once or twice):
# every journal transaction it touches balances per currency (amounts are never zero, so a
# balanced transaction has two or more entries), each entry's transaction exists, and each
# entry's account exists and is in the entry's currency. Then the balance caches move, with
# the accounts locked in id order FOR NO KEY UPDATE (two postings to one account queue, never
# deadlock). All entries of one transaction are still written by one INSERT statement.
POSTING = """
CREATE OR REPLACE FUNCTION billing.ledger_entries_posted() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    bad record;
BEGIN
    SELECT n.transaction_id, n.currency, sum(n.amount) AS total INTO bad
    FROM new_rows n
    GROUP BY n.transaction_id, n.currency
    HAVING sum(n.amount) <> 0
    LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'journal transaction % does not balance: % %',
            bad.transaction_id, bad.total, bad.currency USING ERRCODE = 'check_violation';
    END IF;
    SELECT t.transaction_id INTO bad
    FROM (SELECT DISTINCT n.transaction_id FROM new_rows n) t
    WHERE NOT EXISTS (SELECT 1 FROM billing.ledger_transactions x WHERE x.id = t.transaction_id)
    LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'journal transaction % does not exist', bad.transaction_id
            USING ERRCODE = 'foreign_key_violation';
    END IF;
    SELECT s.account_id, a.id AS found INTO bad
    FROM (SELECT DISTINCT n.account_id, n.currency FROM new_rows n) s
    LEFT JOIN billing.accounts a ON a.id = s.account_id
    WHERE a.id IS NULL OR a.currency <> s.currency
    LIMIT 1;
    IF FOUND AND bad.found IS NULL THEN
        RAISE EXCEPTION 'ledger account % does not exist', bad.account_id
            USING ERRCODE = 'foreign_key_violation';
    ELSIF FOUND THEN
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
"""

# Per INSERT statement on usage_charges: each charge's account and (when it was posted) its
# journal transaction exist. Metering writes the charges, their transaction and its entries
# in one statement, and statement triggers fire once the whole statement is done.
CHARGES_CHECKED = """
CREATE FUNCTION billing.usage_charges_written() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    missing uuid;
BEGIN
    SELECT s.account_id INTO missing
    FROM (SELECT DISTINCT n.account_id FROM new_rows n) s
    WHERE NOT EXISTS (SELECT 1 FROM billing.accounts a WHERE a.id = s.account_id)
    LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'ledger account % does not exist', missing
            USING ERRCODE = 'foreign_key_violation';
    END IF;
    SELECT t.transaction_id INTO missing
    FROM (SELECT DISTINCT n.transaction_id FROM new_rows n
          WHERE n.transaction_id IS NOT NULL) t
    WHERE NOT EXISTS (SELECT 1 FROM billing.ledger_transactions x WHERE x.id = t.transaction_id)
    LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'journal transaction % does not exist', missing
            USING ERRCODE = 'foreign_key_violation';
    END IF;
    RETURN NULL;
END;
$$;
CREATE TRIGGER usage_charges_written AFTER INSERT ON billing.usage_charges
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION billing.usage_charges_written();
CREATE FUNCTION billing.forbid_usage_charge_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'usage charges are written once: % on %.% is not allowed',
        TG_OP, TG_TABLE_SCHEMA, TG_TABLE_NAME
        USING ERRCODE = 'restrict_violation';
END;
$$;
CREATE TRIGGER usage_charges_no_reference_change
    BEFORE UPDATE OF account_id, transaction_id ON billing.usage_charges
    FOR EACH ROW EXECUTE FUNCTION billing.forbid_usage_charge_change();
"""

# the initial migration's posting function, for the downgrade
POSTING_BEFORE = """
CREATE OR REPLACE FUNCTION billing.ledger_entries_posted() RETURNS trigger
LANGUAGE plpgsql AS $$
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
"""

DROP_TRIGGERS = """
DROP TRIGGER IF EXISTS usage_charges_no_reference_change ON billing.usage_charges;
DROP FUNCTION IF EXISTS billing.forbid_usage_charge_change();
DROP TRIGGER IF EXISTS usage_charges_written ON billing.usage_charges;
DROP FUNCTION IF EXISTS billing.usage_charges_written();
DROP TRIGGER IF EXISTS accounts_no_delete ON billing.accounts;
DROP TRIGGER IF EXISTS accounts_no_truncate ON billing.accounts;
DROP FUNCTION IF EXISTS billing.forbid_account_removal();
"""


def _statements(block: str) -> list[str]:
    """asyncpg runs one statement per call: split a block at its top-level CREATE/DROP."""
    return [part.strip() for part in re.split(r"\n(?=CREATE |DROP )", block) if part.strip()]


def upgrade() -> None:
    op.add_column(
        "accounts",
        sa.Column("shard", sa.SmallInteger(), server_default="0", nullable=False),
        schema="billing",
    )
    op.create_check_constraint(
        op.f("ck_accounts_shard_range"),
        "accounts",
        "shard >= 0 AND (kind <> 'wallet' OR shard = 0)",
        schema="billing",
    )
    op.drop_index(
        "uq_accounts_system",
        table_name="accounts",
        schema="billing",
        postgresql_where=sa.text("owner_id IS NULL"),
    )
    op.create_index(
        "uq_accounts_system",
        "accounts",
        ["kind", "currency", "shard"],
        unique=True,
        schema="billing",
        postgresql_where=sa.text("owner_id IS NULL"),
    )
    for table, name, _column, _referred, _deferred in REFERENCES:
        op.drop_constraint(name, table, schema="billing", type_="foreignkey")
    for block in (ACCOUNTS_PERMANENT, POSTING, CHARGES_CHECKED):
        for statement in _statements(block):
            op.execute(statement)


def downgrade() -> None:
    for statement in _statements(DROP_TRIGGERS):
        op.execute(statement)
    op.execute(POSTING_BEFORE.strip())
    for table, name, column, referred, deferred in REFERENCES:
        op.create_foreign_key(
            name,
            table,
            referred,
            [column],
            ["id"],
            source_schema="billing",
            referent_schema="billing",
            deferrable=deferred or None,
            initially="DEFERRED" if deferred else None,
        )
    op.drop_index(
        "uq_accounts_system",
        table_name="accounts",
        schema="billing",
        postgresql_where=sa.text("owner_id IS NULL"),
    )
    op.create_index(
        "uq_accounts_system",
        "accounts",
        ["kind", "currency"],
        unique=True,
        schema="billing",
        postgresql_where=sa.text("owner_id IS NULL"),
    )
    op.drop_constraint(op.f("ck_accounts_shard_range"), "accounts", schema="billing", type_="check")
    op.drop_column("accounts", "shard", schema="billing")
