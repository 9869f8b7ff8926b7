"""what the supervisor saw of each instance's process, and each node supervisor's last tick

Revision ID: c41e7a9d2b36
Revises: 8b4d2f61c0e9
Create Date: 2026-11-30 02:00:00

The liveness endpoint answers from these: an instance's process is alive while its row is
running and its node's supervisor ticked recently; since when, and how it last ended.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "c41e7a9d2b36"
down_revision: str | Sequence[str] | None = "8b4d2f61c0e9"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("instances", sa.Column("last_exit", sa.String(length=200)), schema="deploy")
    op.add_column(
        "instances", sa.Column("alive_changed_at", sa.DateTime(timezone=True)), schema="deploy"
    )
    op.create_index(
        "ix_instances_serving",
        "instances",
        ["id"],
        schema="deploy",
        postgresql_where=sa.text("status IN ('running', 'crashed')"),
    )
    op.create_table(
        "supervisor_beats",
        sa.Column("node", sa.String(length=200), nullable=False),
        sa.Column("beat_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("node", name=op.f("pk_supervisor_beats")),
        schema="deploy",
    )


def downgrade() -> None:
    op.drop_table("supervisor_beats", schema="deploy")
    op.drop_index("ix_instances_serving", table_name="instances", schema="deploy")
    op.drop_column("instances", "alive_changed_at", schema="deploy")
    op.drop_column("instances", "last_exit", schema="deploy")
