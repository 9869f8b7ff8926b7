"""usage charges: no index on transaction_id

Revision ID: b7d3e5a91c24
Revises: 4a8c2e6f1b93
Create Date: 2026-11-30 12:45:00

An hourly metering run inserts a usage charge per running instance (1M rows for 1M
instances), and every index on the table is one more insertion per row. Nothing reads the
charges by their journal transaction (invoices read them by account and hour; the posting
checks read the statement's new rows), so the index on transaction_id only cost time.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "b7d3e5a91c24"
down_revision: str | Sequence[str] | None = "4a8c2e6f1b93"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.drop_index("ix_usage_charges_transaction", table_name="usage_charges", schema="billing")


def downgrade() -> None:
    op.create_index(
        "ix_usage_charges_transaction",
        "usage_charges",
        ["transaction_id"],
        unique=False,
        schema="billing",
    )
