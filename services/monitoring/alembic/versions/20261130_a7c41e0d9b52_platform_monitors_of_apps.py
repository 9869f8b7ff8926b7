"""platform monitors of apps: what deploy's and billing's events said about apps and owners

Revision ID: a7c41e0d9b52
Revises: 7c1e0d9a4b21
Create Date: 2026-11-30 02:00:00

Deploy's instance and operation events and billing's suspensions decide whether an app's
platform monitors are checked (suppressed) and whether they page (muted); these rows keep the
latest word of each, so events that arrive out of order do not undo a newer one.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "a7c41e0d9b52"
down_revision: str | Sequence[str] | None = "7c1e0d9a4b21"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "platform_apps",
        sa.Column("app_id", sa.UUID(), nullable=False),
        sa.Column("owner_id", sa.UUID(), nullable=False),
        sa.Column("instance_id", sa.UUID(), nullable=True),
        sa.Column("running", sa.Boolean(), server_default="false", nullable=False),
        sa.Column("suppression", sa.String(length=16), nullable=True),
        sa.Column("deleted", sa.Boolean(), server_default="false", nullable=False),
        sa.Column("lifecycle_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("app_id", name=op.f("pk_platform_apps")),
        schema="monitoring",
    )
    op.create_index(
        "ix_platform_apps_owner", "platform_apps", ["owner_id"], unique=False, schema="monitoring"
    )
    op.create_table(
        "platform_owners",
        sa.Column("owner_id", sa.UUID(), nullable=False),
        sa.Column("suspended", sa.Boolean(), nullable=False),
        sa.Column("changed_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("owner_id", name=op.f("pk_platform_owners")),
        schema="monitoring",
    )
    op.create_table(
        "platform_operations",
        sa.Column("operation_id", sa.UUID(), nullable=False),
        sa.Column("app_id", sa.UUID(), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("operation_id", name=op.f("pk_platform_operations")),
        schema="monitoring",
    )
    op.create_index(
        "ix_platform_operations_app",
        "platform_operations",
        ["app_id"],
        unique=False,
        schema="monitoring",
    )


def downgrade() -> None:
    op.drop_index("ix_platform_operations_app", "platform_operations", schema="monitoring")
    op.drop_table("platform_operations", schema="monitoring")
    op.drop_table("platform_owners", schema="monitoring")
    op.drop_index("ix_platform_apps_owner", "platform_apps", schema="monitoring")
    op.drop_table("platform_apps", schema="monitoring")
