"""a plan says how many apps on it one person may have

Revision ID: d1f200c60ed5
Revises: 139676788d47
Create Date: 2026-11-29 20:15:00

The deploy service reads it from the plan list when someone creates an app; admins change it
with the plan (PATCH /api/billing/v1/admin/plans/{key}).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "d1f200c60ed5"
down_revision: str | Sequence[str] | None = "139676788d47"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "plans",
        sa.Column("max_apps_per_owner", sa.Integer(), server_default="10", nullable=False),
        schema="billing",
    )
    op.create_check_constraint(
        op.f("ck_plans_max_apps_nonnegative"),
        "plans",
        "max_apps_per_owner >= 0",
        schema="billing",
    )


def downgrade() -> None:
    op.drop_constraint(
        op.f("ck_plans_max_apps_nonnegative"), "plans", schema="billing", type_="check"
    )
    op.drop_column("plans", "max_apps_per_owner", schema="billing")
