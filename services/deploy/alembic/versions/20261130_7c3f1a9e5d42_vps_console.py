"""the VPS console: single-use console tokens (hashed) and the audit of console sessions

Revision ID: 7c3f1a9e5d42
Revises: b7e4c1a9d352
Create Date: 2026-11-30 09:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "7c3f1a9e5d42"
down_revision: str | Sequence[str] | None = "b7e4c1a9d352"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "vps_console_tokens",
        sa.Column(
            "id",
            postgresql.UUID(as_uuid=True),
            server_default=sa.text("gen_random_uuid()"),
            primary_key=True,
        ),
        sa.Column(
            "vps_id",
            postgresql.UUID(as_uuid=True),
            sa.ForeignKey("deploy.vps.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("user_id", postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False, unique=True),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True)),
        schema="deploy",
    )
    op.create_index(
        "ix_vps_console_tokens_expires", "vps_console_tokens", ["expires_at"], schema="deploy"
    )
    op.create_table(
        "vps_console_sessions",
        sa.Column(
            "id",
            postgresql.UUID(as_uuid=True),
            server_default=sa.text("gen_random_uuid()"),
            primary_key=True,
        ),
        sa.Column("vps_id", postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column("user_id", postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column("token_id", postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column("client_address", sa.String(length=64)),
        sa.Column(
            "opened_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.Column("closed_at", sa.DateTime(timezone=True)),
        sa.Column("close_code", sa.Integer()),
        sa.Column("close_reason", sa.String(length=32)),
        sa.Column("bytes_in", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("bytes_out", sa.BigInteger(), server_default="0", nullable=False),
        schema="deploy",
    )
    op.create_index(
        "ix_vps_console_sessions_opened", "vps_console_sessions", ["opened_at"], schema="deploy"
    )
    op.create_index(
        "ix_vps_console_sessions_vps",
        "vps_console_sessions",
        ["vps_id", "opened_at"],
        schema="deploy",
    )
    op.create_index(
        "ix_vps_console_sessions_user",
        "vps_console_sessions",
        ["user_id", "opened_at"],
        schema="deploy",
    )


def downgrade() -> None:
    op.drop_table("vps_console_sessions", schema="deploy")
    op.drop_table("vps_console_tokens", schema="deploy")
