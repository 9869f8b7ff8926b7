"""chat: the actions a system notice offers (chat-agents)

Revision ID: c4a9e2b7d1f0
Revises: d8eab14f4740
Create Date: 2026-11-30 02:40:00

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "c4a9e2b7d1f0"
down_revision: str | Sequence[str] | None = "d8eab14f4740"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "message_actions",
        sa.Column("message_id", sa.UUID(), nullable=False),
        sa.Column("actions", postgresql.ARRAY(sa.String(length=40)), nullable=False),
        sa.CheckConstraint(
            "cardinality(actions) BETWEEN 1 AND 8", name=op.f("ck_message_actions_actions_count")
        ),
        sa.ForeignKeyConstraint(
            ["message_id"],
            ["chat.messages.id"],
            name=op.f("fk_message_actions_message_id_messages"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("message_id", name=op.f("pk_message_actions")),
        schema="chat",
    )


def downgrade() -> None:
    op.drop_table("message_actions", schema="chat")
