"""usage charges keyed by wallet first; wallet balances updated in place (HOT)

Revision ID: 3c8f1d6a2e90
Revises: e5f2a8c4d1b7
Create Date: 2026-12-01 00:20:00

Measured on 1M running instances over 100k wallets (bench/billing_metering.py):

- Two indexes on usage_charges, the key (hour, instance_id) and (account_id, hour), meant
  that one of them took a metering run's rows at random places, whichever order they came
  in. One key, (account_id, hour, instance_id), serves both: a run inserts its rows in that
  order (page after page of the index), and a wallet's charges over a period are a range
  of it. It is still one charge per instance-hour: an instance's interval names its wallet
  once (usage_intervals.instance_id is its key) and the wallet never changes afterwards
  (the trigger below), so (account_id, hour, instance_id) is unique exactly when
  (hour, instance_id) is.
- A posting updates its accounts' balances. The partial index of wallets below zero was
  `WHERE balance < 0`: an index whose predicate reads `balance` made every balance update a
  non-HOT update, a new index entry in each of the four indexes of accounts. It becomes
  `WHERE negative_since IS NOT NULL` (what the suspension sweep looks up); wallets newly
  below zero are a scan of accounts, once per check. accounts gets room on its pages
  (fillfactor 70) so the new version of a row fits beside the old one.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "3c8f1d6a2e90"
down_revision: str | Sequence[str] | None = "e5f2a8c4d1b7"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

INTERVAL_WALLET_FIXED = """
CREATE FUNCTION billing.forbid_interval_wallet_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.account_id IS DISTINCT FROM OLD.account_id THEN
        RAISE EXCEPTION 'the wallet of instance % is fixed once recorded', OLD.instance_id
            USING ERRCODE = 'restrict_violation';
    END IF;
    RETURN NEW;
END;
$$
"""
INTERVAL_WALLET_TRIGGER = """
CREATE TRIGGER usage_intervals_wallet_fixed
    BEFORE UPDATE OF account_id ON billing.usage_intervals
    FOR EACH ROW EXECUTE FUNCTION billing.forbid_interval_wallet_change();
"""


def negative_wallets_index(where: str) -> None:
    op.drop_index("ix_accounts_negative", "accounts", schema="billing")
    op.create_index(
        "ix_accounts_negative",
        "accounts",
        ["negative_since"],
        schema="billing",
        postgresql_where=sa.text(where),
    )


def upgrade() -> None:
    op.execute(INTERVAL_WALLET_FIXED)
    op.execute(INTERVAL_WALLET_TRIGGER)
    op.drop_constraint("pk_usage_charges", "usage_charges", schema="billing", type_="primary")
    op.drop_index("ix_usage_charges_account_hour", "usage_charges", schema="billing")
    op.create_primary_key(
        "pk_usage_charges",
        "usage_charges",
        ["account_id", "hour", "instance_id"],
        schema="billing",
    )
    negative_wallets_index("negative_since IS NOT NULL")
    # pages written from now on keep the room (existing ones gain it as they are rewritten)
    op.execute("ALTER TABLE billing.accounts SET (fillfactor = 70)")


def downgrade() -> None:
    op.execute("ALTER TABLE billing.accounts RESET (fillfactor)")
    negative_wallets_index("balance < 0")
    op.drop_constraint("pk_usage_charges", "usage_charges", schema="billing", type_="primary")
    op.create_primary_key(
        "pk_usage_charges", "usage_charges", ["hour", "instance_id"], schema="billing"
    )
    op.create_index(
        "ix_usage_charges_account_hour",
        "usage_charges",
        ["account_id", "hour"],
        schema="billing",
    )
    op.execute("DROP TRIGGER IF EXISTS usage_intervals_wallet_fixed ON billing.usage_intervals")
    op.execute("DROP FUNCTION IF EXISTS billing.forbid_interval_wallet_change()")
