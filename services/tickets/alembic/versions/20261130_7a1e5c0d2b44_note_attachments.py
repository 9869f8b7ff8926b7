"""note attachments

Revision ID: 7a1e5c0d2b44
Revises: 268c62cebb3a
Create Date: 2026-11-30 02:15:00

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "7a1e5c0d2b44"
down_revision: str | Sequence[str] | None = "268c62cebb3a"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "note_attachments",
        sa.Column("attachment_id", sa.UUID(), nullable=False),
        sa.Column("note_id", sa.UUID(), nullable=False),
        sa.ForeignKeyConstraint(
            ["attachment_id"],
            ["tickets.attachments.id"],
            name=op.f("fk_note_attachments_attachment_id_attachments"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["note_id"],
            ["tickets.internal_notes.id"],
            name=op.f("fk_note_attachments_note_id_internal_notes"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("attachment_id", name=op.f("pk_note_attachments")),
        schema="tickets",
    )
    op.create_index(
        op.f("ix_tickets_note_attachments_note_id"),
        "note_attachments",
        ["note_id"],
        unique=False,
        schema="tickets",
    )


def downgrade() -> None:
    op.drop_index(
        op.f("ix_tickets_note_attachments_note_id"), table_name="note_attachments", schema="tickets"
    )
    op.drop_table("note_attachments", schema="tickets")
