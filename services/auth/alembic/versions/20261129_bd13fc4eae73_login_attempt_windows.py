"""login attempt windows: the atomic per-(account, address) login limit

Revision ID: bd13fc4eae73
Revises: 0ac90a99b200
Create Date: 2026-11-29 20:00:00

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "bd13fc4eae73"
down_revision: str | Sequence[str] | None = "0ac90a99b200"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "login_attempt_windows",
        sa.Column("email", sa.String(length=254), nullable=False),
        sa.Column("ip", sa.String(length=45), nullable=False),
        sa.Column("window_started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("email", "ip", name=op.f("pk_login_attempt_windows")),
        schema="auth",
    )


def downgrade() -> None:
    op.drop_table("login_attempt_windows", schema="auth")
