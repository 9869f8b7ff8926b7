"""usage charges keyed hour first: each hourly run appends at the end of the key

Revision ID: 7d2b9e4f1a63
Revises: 3c8f1d6a2e90
Create Date: 2026-12-01 04:30:00

With the key (account_id, hour, instance_id), the first run over an empty table wrote its
rows page after page, but every later hour's rows went beside the earlier hours' rows of
the same wallet: each hourly run touched (and split) leaf pages across the whole key, all
of history, and grew slower with every hour kept (1M instances over 100k wallets, three
consecutive hours: 10.7, 12.8, 14.3 s of backend CPU). Keyed (hour, account_id,
instance_id), an hour's run, sorted by wallet, writes after every earlier hour. A wallet's
charges over a period are read one hour at a time (`hour = ANY(...)`: one descent of the
key per hour). Still one charge per instance-hour: an instance's wallet is fixed once
recorded (usage_intervals_wallet_fixed).
"""

from collections.abc import Sequence

from alembic import op

revision: str = "7d2b9e4f1a63"
down_revision: str | Sequence[str] | None = "3c8f1d6a2e90"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def charges_key(*columns: str) -> None:
    op.drop_constraint("pk_usage_charges", "usage_charges", schema="billing", type_="primary")
    op.create_primary_key("pk_usage_charges", "usage_charges", list(columns), schema="billing")


def upgrade() -> None:
    charges_key("hour", "account_id", "instance_id")


def downgrade() -> None:
    charges_key("account_id", "hour", "instance_id")
