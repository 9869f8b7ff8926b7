"""tickets: customers' tiers as billing announces them (a new ticket's SLA policy)

Revision ID: 49d2466d0e55
Revises: d2506458f257
Create Date: 2026-11-30 05:50:00

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "49d2466d0e55"
down_revision: str | Sequence[str] | None = "d2506458f257"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "account_tiers",
        sa.Column("owner_id", sa.UUID(), nullable=False),
        sa.Column("tier", sa.String(length=32), nullable=False),
        sa.Column("changed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("owner_id", name=op.f("pk_account_tiers")),
        schema="tickets",
    )


def downgrade() -> None:
    op.drop_table("account_tiers", schema="tickets")
