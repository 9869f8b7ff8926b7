"""app nodes (capacity heartbeats, drain, down), the app's placement, and the app routes
Traefik's HTTP provider reads

Revision ID: 5e8b2c7d1f04
Revises: e7c3a1f2d940
Create Date: 2026-11-30 12:30:00

Routes used to be files in Traefik's watched directory on the one host; a row per app's
host lets one Traefik serve apps on every node.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "5e8b2c7d1f04"
down_revision: str | Sequence[str] | None = "e7c3a1f2d940"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "nodes",
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("host", sa.String(length=255), nullable=False),
        sa.Column("memory_mb", sa.Integer(), nullable=False),
        sa.Column("cpus", sa.Integer(), nullable=False),
        sa.Column("port_min", sa.Integer(), nullable=False),
        sa.Column("port_max", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), server_default="active", nullable=False),
        sa.Column("heartbeat_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column(
            "status_changed_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_nodes")),
        schema="deploy",
    )
    op.create_table(
        "routes",
        sa.Column("slug", sa.String(length=63), nullable=False),
        sa.Column("instance_id", postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column("node", sa.String(length=200), nullable=False),
        sa.Column("host", sa.String(length=255), nullable=False),
        sa.Column("port", sa.Integer(), nullable=False),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("slug", name=op.f("pk_routes")),
        schema="deploy",
    )
    op.add_column("apps", sa.Column("node", sa.String(length=200)), schema="deploy")


def downgrade() -> None:
    op.drop_column("apps", "node", schema="deploy")
    op.drop_table("routes", schema="deploy")
    op.drop_table("nodes", schema="deploy")
