"""chat: customers' tiers as billing announces them, and the index retention per tier reads

Revision ID: 62715d596891
Revises: c4a9e2b7d1f0
Create Date: 2026-11-30 05:40:00

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "62715d596891"
down_revision: str | Sequence[str] | None = "c4a9e2b7d1f0"
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
        schema="chat",
    )
    op.create_index(
        "ix_messages_conversation_created",
        "messages",
        ["conversation_id", "created_at"],
        unique=False,
        schema="chat",
    )


def downgrade() -> None:
    op.drop_index("ix_messages_conversation_created", table_name="messages", schema="chat")
    op.drop_table("account_tiers", schema="chat")
