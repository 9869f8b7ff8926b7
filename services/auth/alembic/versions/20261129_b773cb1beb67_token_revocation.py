"""token revocation: users.tokens_not_before, and indexes for the revocation list

Revision ID: b773cb1beb67
Revises: bd13fc4eae73
Create Date: 2026-11-29 21:00:00

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "b773cb1beb67"
down_revision: str | Sequence[str] | None = "bd13fc4eae73"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "users",
        sa.Column("tokens_not_before", sa.DateTime(timezone=True), nullable=True),
        schema="auth",
    )
    op.create_index(
        "ix_users_tokens_not_before",
        "users",
        ["tokens_not_before"],
        unique=False,
        schema="auth",
        postgresql_where=sa.text("tokens_not_before IS NOT NULL"),
    )
    op.create_index(
        "ix_refresh_token_families_revoked",
        "refresh_token_families",
        ["revoked_at"],
        unique=False,
        schema="auth",
        postgresql_where=sa.text("revoked_at IS NOT NULL"),
    )


def downgrade() -> None:
    op.drop_index("ix_refresh_token_families_revoked", "refresh_token_families", schema="auth")
    op.drop_index("ix_users_tokens_not_before", "users", schema="auth")
    op.drop_column("users", "tokens_not_before", schema="auth")
