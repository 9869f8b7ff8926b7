"""what the last poll of an app's remote found: the branch's commit, or why it failed

Revision ID: 9a6d3e1b7c25
Revises: 5e2a9c7d1f08
Create Date: 2026-11-30 05:20:00

A poll deploys only a commit it has not seen before (so a failed deploy is not retried every
interval); a poll that failed tells the owner why in a sentence, never git's raw output.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "9a6d3e1b7c25"
down_revision: str | Sequence[str] | None = "5e2a9c7d1f08"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("apps", sa.Column("polled_commit_sha", sa.String(length=64)), schema="deploy")
    op.add_column("apps", sa.Column("poll_error", sa.String(length=200)), schema="deploy")
    op.create_index(
        "ix_apps_poll_due",
        "apps",
        ["polled_at"],
        schema="deploy",
        postgresql_where=sa.text("poll_interval_seconds IS NOT NULL"),
    )


def downgrade() -> None:
    op.drop_index("ix_apps_poll_due", table_name="apps", schema="deploy")
    op.drop_column("apps", "poll_error", schema="deploy")
    op.drop_column("apps", "polled_commit_sha", schema="deploy")
