"""claims of the live log streams people hold open

Revision ID: 8b4d2f61c0e9
Revises: 3f1c9e0a7b52
Create Date: 2026-11-29 20:00:00

One row per open SSE log stream, renewed by the web process serving it and deleted when it
ends; at most DEPLOY_LOG_STREAMS_PER_USER unexpired rows per viewer, across web processes.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "8b4d2f61c0e9"
down_revision: str | Sequence[str] | None = "3f1c9e0a7b52"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "log_streams",
        sa.Column(
            "id",
            postgresql.UUID(as_uuid=True),
            server_default=sa.text("gen_random_uuid()"),
            nullable=False,
        ),
        sa.Column("viewer", sa.String(length=200), nullable=False),
        sa.Column("app_id", postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column(
            "started_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["app_id"],
            ["deploy.apps.id"],
            name=op.f("fk_log_streams_app_id_apps"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_log_streams")),
        schema="deploy",
    )
    op.create_index(
        "ix_log_streams_viewer", "log_streams", ["viewer", "expires_at"], schema="deploy"
    )
    op.create_index("ix_log_streams_expires", "log_streams", ["expires_at"], schema="deploy")


def downgrade() -> None:
    op.drop_table("log_streams", schema="deploy")
