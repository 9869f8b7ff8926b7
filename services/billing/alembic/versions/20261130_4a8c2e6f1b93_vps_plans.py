"""the VPS plans: deploy charges a VPS's hours on these (its catalog's billing_plan_key)

Revision ID: 4a8c2e6f1b93
Revises: 0dcff283bb60
Create Date: 2026-11-30 08:50:00

Their first prices come from the seed (plans/service.py SEED_PRICES), like the app plans'.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "4a8c2e6f1b93"
down_revision: str | Sequence[str] | None = "0dcff283bb60"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

PLANS = [
    ("vps-1", "VPS, 1 vCPU", "A virtual server: 1 vCPU, 1 GB of memory, 10 GB of disk"),
    ("vps-2", "VPS, 2 vCPU", "A virtual server: 2 vCPUs, 2 GB of memory, 20 GB of disk"),
]


def upgrade() -> None:
    for key, name, description in PLANS:
        op.execute(
            sa.text(
                "INSERT INTO billing.plans (key, name, description) "
                "VALUES (:key, :name, :description) ON CONFLICT (key) DO NOTHING"
            ).bindparams(key=key, name=name, description=description)
        )


def downgrade() -> None:
    # a plan with charges stays (the ledger's charges refer to it); an unused one goes
    for key, _, _ in PLANS:
        op.execute(
            sa.text(
                "DELETE FROM billing.plan_prices WHERE plan_key = :key AND NOT EXISTS "
                "(SELECT 1 FROM billing.usage_charges c WHERE c.plan_key = :key)"
            ).bindparams(key=key)
        )
        op.execute(
            sa.text(
                "DELETE FROM billing.plans WHERE key = :key AND NOT EXISTS "
                "(SELECT 1 FROM billing.usage_charges c WHERE c.plan_key = :key)"
            ).bindparams(key=key)
        )
