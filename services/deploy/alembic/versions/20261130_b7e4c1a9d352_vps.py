"""virtual private servers: the machines, their leased operations and their snapshots

Revision ID: b7e4c1a9d352
Revises: 9a6d3e1b7c25
Create Date: 2026-11-30 08:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "b7e4c1a9d352"
down_revision: str | Sequence[str] | None = "9a6d3e1b7c25"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

S = "deploy"


def _ts(name: str, nullable: bool = True) -> sa.Column:
    if nullable:
        return sa.Column(name, sa.DateTime(timezone=True))
    return sa.Column(name, sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False)


def upgrade() -> None:
    op.create_table(
        "vps",
        sa.Column("id", postgresql.UUID(as_uuid=True), server_default=sa.text("gen_random_uuid()")),
        sa.Column("owner_id", postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column("name", sa.String(40), nullable=False),
        sa.Column("plan", sa.String(40), nullable=False),
        sa.Column("billing_plan_key", sa.String(40), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("image", sa.String(40), server_default="debian-12", nullable=False),
        sa.Column("status", sa.String(16), server_default="creating", nullable=False),
        sa.Column("status_reason", sa.String(500)),
        sa.Column("suspended_by", sa.String(16)),
        sa.Column("vcpus", sa.Integer(), nullable=False),
        sa.Column("memory_mb", sa.Integer(), nullable=False),
        sa.Column("disk_gb", sa.Integer(), nullable=False),
        sa.Column("ssh_public_key", sa.Text(), nullable=False),
        sa.Column("node", sa.String(200), nullable=False),
        sa.Column("ssh_port", sa.Integer()),
        # the apps' sequence: apps and VPSes share one uid space (berth_deploy/vps/models.py)
        sa.Column(
            "run_uid",
            sa.BigInteger(),
            server_default=sa.text("nextval('deploy.apps_run_uid_seq'::regclass)"),
            nullable=False,
        ),
        sa.Column("active_operation_id", postgresql.UUID(as_uuid=True)),
        sa.Column("boot_id", postgresql.UUID(as_uuid=True)),
        _ts("boot_started_at"),
        _ts("created_at", False),
        _ts("updated_at", False),
        _ts("status_changed_at", False),
        _ts("deleted_at"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("run_uid"),
        schema=S,
    )
    op.create_index(
        "uq_vps_owner_name_live",
        "vps",
        ["owner_id", "name"],
        unique=True,
        schema=S,
        postgresql_where=sa.text("status <> 'deleted'"),
    )
    op.create_index("ix_vps_owner_created", "vps", ["owner_id", "created_at"], schema=S)
    op.create_index(
        "uq_vps_node_ssh_port_live",
        "vps",
        ["node", "ssh_port"],
        unique=True,
        schema=S,
        postgresql_where=sa.text("ssh_port IS NOT NULL AND status <> 'deleted'"),
    )
    op.create_table(
        "vps_operations",
        sa.Column("id", postgresql.UUID(as_uuid=True), server_default=sa.text("gen_random_uuid()")),
        sa.Column("vps_id", postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("status", sa.String(16), server_default="queued", nullable=False),
        sa.Column("step", sa.String(32)),
        sa.Column("reason", sa.String(1000)),
        sa.Column(
            "params",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'{}'::jsonb"),
            nullable=False,
        ),
        sa.Column("requested_by", postgresql.UUID(as_uuid=True)),
        sa.Column("origin", sa.String(16), server_default="user", nullable=False),
        sa.Column("vps_status_before", sa.String(16)),
        sa.Column("attempt", sa.Integer(), server_default="0", nullable=False),
        sa.Column("lease_owner", sa.String(200)),
        sa.Column("lease_node", sa.String(200)),
        _ts("lease_expires_at"),
        _ts("heartbeat_at"),
        _ts("created_at", False),
        _ts("started_at"),
        _ts("finished_at"),
        sa.ForeignKeyConstraint(["vps_id"], [f"{S}.vps.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        schema=S,
    )
    op.create_index(
        "ix_vps_operations_vps_created", "vps_operations", ["vps_id", "created_at"], schema=S
    )
    op.create_index(
        "ix_vps_operations_lease",
        "vps_operations",
        ["lease_expires_at"],
        schema=S,
        postgresql_where=sa.text("status = 'running'"),
    )
    op.create_table(
        "vps_snapshots",
        sa.Column("id", postgresql.UUID(as_uuid=True), server_default=sa.text("gen_random_uuid()")),
        sa.Column("vps_id", postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column("name", sa.String(80), nullable=False),
        sa.Column("status", sa.String(16), server_default="creating", nullable=False),
        sa.Column("size_bytes", sa.BigInteger()),
        sa.Column("error", sa.String(500)),
        _ts("created_at", False),
        _ts("ready_at"),
        sa.ForeignKeyConstraint(["vps_id"], [f"{S}.vps.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        schema=S,
    )
    op.create_index(
        "ix_vps_snapshots_vps_created", "vps_snapshots", ["vps_id", "created_at"], schema=S
    )


def downgrade() -> None:
    op.drop_table("vps_snapshots", schema=S)
    op.drop_table("vps_operations", schema=S)
    op.drop_table("vps", schema=S)
