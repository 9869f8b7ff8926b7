"""index the slugs of deleted apps (they are held for their owner a while)

Revision ID: 3f1c9e0a7b52
Revises: 510385a1b844
Create Date: 2026-11-29 19:45:00

Creating an app asks whether another owner deleted an app of that slug recently
(DEPLOY_SLUG_HOLD_DAYS); deleted apps accumulate, so that question needs an index.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "3f1c9e0a7b52"
down_revision: str | Sequence[str] | None = "510385a1b844"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(
        "ix_apps_slug_deleted",
        "apps",
        ["slug", "deleted_at"],
        schema="deploy",
        postgresql_where=sa.text("status = 'deleted'"),
    )


def downgrade() -> None:
    op.drop_index("ix_apps_slug_deleted", table_name="apps", schema="deploy")
