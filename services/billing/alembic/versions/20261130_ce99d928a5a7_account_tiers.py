"""an account's service tier, and every change of it

Revision ID: ce99d928a5a7
Revises: d1f200c60ed5
Create Date: 2026-11-30 05:30:00

Admins set it (PUT /api/billing/v1/admin/accounts/{id}/tier); each change is a row of
account_tier_changes and a billing.account.tier_changed event (chat's retention, tickets' SLA).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "ce99d928a5a7"
down_revision: str | Sequence[str] | None = "d1f200c60ed5"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "accounts",
        sa.Column("tier", sa.String(length=32), server_default="standard", nullable=False),
        schema="billing",
    )
    op.create_table(
        "account_tier_changes",
        sa.Column("id", sa.UUID(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("account_id", sa.UUID(), nullable=False),
        sa.Column("owner_id", sa.UUID(), nullable=False),
        sa.Column("from_tier", sa.String(length=32), nullable=False),
        sa.Column("to_tier", sa.String(length=32), nullable=False),
        sa.Column("changed_by", sa.String(length=120), nullable=False),
        sa.Column("reason", sa.String(length=500), server_default="", nullable=False),
        sa.Column(
            "changed_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["billing.accounts.id"],
            name=op.f("fk_account_tier_changes_account_id_accounts"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_account_tier_changes")),
        schema="billing",
    )
    op.create_index(
        "ix_account_tier_changes_account",
        "account_tier_changes",
        ["account_id", "changed_at"],
        unique=False,
        schema="billing",
    )


def downgrade() -> None:
    op.drop_index(
        "ix_account_tier_changes_account", table_name="account_tier_changes", schema="billing"
    )
    op.drop_table("account_tier_changes", schema="billing")
    op.drop_column("accounts", "tier", schema="billing")
