"""VPSes on app nodes: each node heartbeats its VPS SSH port pool, and the machine state its
supervisor last saw is kept on the VPS (liveness of a VPS on another node)

Revision ID: d3a8f5c2e917
Revises: 5e8b2c7d1f04
Create Date: 2026-11-30 13:20:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "d3a8f5c2e917"
down_revision: str | Sequence[str] | None = "5e8b2c7d1f04"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("nodes", sa.Column("vps_port_min", sa.Integer(), nullable=True), schema="deploy")
    op.add_column("nodes", sa.Column("vps_port_max", sa.Integer(), nullable=True), schema="deploy")
    op.add_column(
        "vps", sa.Column("observed_state", sa.String(length=16), nullable=True), schema="deploy"
    )
    op.add_column(
        "vps",
        sa.Column("observed_at", sa.DateTime(timezone=True), nullable=True),
        schema="deploy",
    )


def downgrade() -> None:
    op.drop_column("vps", "observed_at", schema="deploy")
    op.drop_column("vps", "observed_state", schema="deploy")
    op.drop_column("nodes", "vps_port_max", schema="deploy")
    op.drop_column("nodes", "vps_port_min", schema="deploy")
