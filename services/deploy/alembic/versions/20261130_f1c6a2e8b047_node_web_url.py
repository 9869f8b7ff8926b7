"""Each node heartbeats where Traefik reaches its deploy web process (DEPLOY_NODE_WEB_URL),
which serves the consoles of the VPSes on that node, and the kind of VPS its machine driver
makes (kvm, container); a VPS keeps the resource use its node's supervisor last saw

Revision ID: f1c6a2e8b047
Revises: d3a8f5c2e917
Create Date: 2026-11-30 16:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "f1c6a2e8b047"
down_revision: str | Sequence[str] | None = "d3a8f5c2e917"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "nodes", sa.Column("web_url", sa.String(length=255), nullable=True), schema="deploy"
    )
    op.add_column(
        "nodes", sa.Column("vps_kind", sa.String(length=16), nullable=True), schema="deploy"
    )
    op.add_column(
        "vps",
        sa.Column("observed_usage", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        schema="deploy",
    )


def downgrade() -> None:
    op.drop_column("vps", "observed_usage", schema="deploy")
    op.drop_column("nodes", "vps_kind", schema="deploy")
    op.drop_column("nodes", "web_url", schema="deploy")
