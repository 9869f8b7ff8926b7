"""operations say why they were cancelled

Revision ID: 510385a1b844
Revises: 7d3e1c2b9a41
Create Date: 2026-11-29 19:36:00

A running deploy is cancelled by its requester, or because the app is being deleted or
suspended; the reason is written with the request and becomes the operation's reason.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "510385a1b844"
down_revision: str | Sequence[str] | None = "7d3e1c2b9a41"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("operations", sa.Column("cancel_reason", sa.String(length=200)), schema="deploy")


def downgrade() -> None:
    op.drop_column("operations", "cancel_reason", schema="deploy")
