"""automatic deploys: git push to Berth, forge webhooks, polling and preview apps

Revision ID: 5e2a9c7d1f08
Revises: c41e7a9d2b36
Create Date: 2026-11-30 05:00:00

Per-app deploy tokens (hashes only) and forge webhook deliveries (unique per app, forge and
delivery id); the app's auto-deploy settings and its preview parent; what started each
operation and which commit it builds.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "5e2a9c7d1f08"
down_revision: str | Sequence[str] | None = "c41e7a9d2b36"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "deploy_tokens",
        sa.Column("id", sa.UUID(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("app_id", sa.UUID(), nullable=False),
        sa.Column("name", sa.String(length=80), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("prefix", sa.String(length=16), nullable=False),
        sa.Column("created_by", sa.UUID(), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("last_used_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["app_id"],
            ["deploy.apps.id"],
            name=op.f("fk_deploy_tokens_app_id_apps"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_deploy_tokens")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_deploy_tokens_token_hash")),
        schema="deploy",
    )
    op.create_index(
        "ix_deploy_tokens_app",
        "deploy_tokens",
        ["app_id", "created_at"],
        unique=False,
        schema="deploy",
    )
    op.create_table(
        "webhook_deliveries",
        sa.Column("id", sa.UUID(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("app_id", sa.UUID(), nullable=False),
        sa.Column("forge", sa.String(length=16), nullable=False),
        sa.Column("delivery_id", sa.String(length=200), nullable=False),
        sa.Column("event", sa.String(length=40), nullable=False),
        sa.Column("branch", sa.String(length=255), nullable=True),
        sa.Column("commit_sha", sa.String(length=64), nullable=True),
        sa.Column("outcome", sa.String(length=32), nullable=False),
        sa.Column("operation_id", sa.UUID(), nullable=True),
        sa.Column(
            "received_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["app_id"],
            ["deploy.apps.id"],
            name=op.f("fk_webhook_deliveries_app_id_apps"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_webhook_deliveries")),
        sa.UniqueConstraint(
            "app_id",
            "forge",
            "delivery_id",
            name=op.f("uq_webhook_deliveries_app_id_forge_delivery_id"),
        ),
        schema="deploy",
    )
    op.create_index(
        "ix_webhook_deliveries_received",
        "webhook_deliveries",
        ["received_at"],
        unique=False,
        schema="deploy",
    )
    op.add_column(
        "apps",
        sa.Column("auto_deploy", sa.Boolean(), server_default="true", nullable=False),
        schema="deploy",
    )
    op.add_column(
        "apps",
        sa.Column("allow_force_push", sa.Boolean(), server_default="false", nullable=False),
        schema="deploy",
    )
    op.add_column(
        "apps", sa.Column("poll_interval_seconds", sa.Integer(), nullable=True), schema="deploy"
    )
    op.add_column(
        "apps", sa.Column("polled_at", sa.DateTime(timezone=True), nullable=True), schema="deploy"
    )
    op.add_column(
        "apps",
        sa.Column("webhook_secret_encrypted", sa.LargeBinary(), nullable=True),
        schema="deploy",
    )
    op.add_column(
        "apps",
        sa.Column("webhook_secret_set_at", sa.DateTime(timezone=True), nullable=True),
        schema="deploy",
    )
    op.add_column(
        "apps",
        sa.Column("previews_enabled", sa.Boolean(), server_default="false", nullable=False),
        schema="deploy",
    )
    op.add_column(
        "apps",
        sa.Column("preview_idle_days", sa.Integer(), server_default="7", nullable=False),
        schema="deploy",
    )
    op.add_column("apps", sa.Column("parent_app_id", sa.UUID(), nullable=True), schema="deploy")
    op.add_column(
        "apps", sa.Column("preview_branch", sa.String(length=255), nullable=True), schema="deploy"
    )
    op.alter_column(
        "apps",
        "slug",
        existing_type=sa.VARCHAR(length=40),
        type_=sa.String(length=63),
        existing_nullable=False,
        schema="deploy",
    )
    op.create_index(
        "uq_apps_preview_branch_live",
        "apps",
        ["parent_app_id", "preview_branch"],
        unique=True,
        schema="deploy",
        postgresql_where=sa.text("parent_app_id IS NOT NULL AND status <> 'deleted'"),
    )
    op.create_foreign_key(
        op.f("fk_apps_parent_app_id_apps"),
        "apps",
        "apps",
        ["parent_app_id"],
        ["id"],
        source_schema="deploy",
        referent_schema="deploy",
        ondelete="CASCADE",
    )
    op.add_column(
        "operations",
        sa.Column("trigger", sa.String(length=16), server_default="manual", nullable=False),
        schema="deploy",
    )
    op.add_column(
        "operations",
        sa.Column("source", sa.String(length=16), server_default="repo", nullable=False),
        schema="deploy",
    )
    op.add_column(
        "operations", sa.Column("commit_sha", sa.String(length=64), nullable=True), schema="deploy"
    )
    op.add_column(
        "operations",
        sa.Column("commit_author", sa.String(length=200), nullable=True),
        schema="deploy",
    )
    op.add_column(
        "operations",
        sa.Column("commit_message", sa.String(length=200), nullable=True),
        schema="deploy",
    )


def downgrade() -> None:
    op.drop_column("operations", "commit_message", schema="deploy")
    op.drop_column("operations", "commit_author", schema="deploy")
    op.drop_column("operations", "commit_sha", schema="deploy")
    op.drop_column("operations", "source", schema="deploy")
    op.drop_column("operations", "trigger", schema="deploy")
    op.drop_constraint(
        op.f("fk_apps_parent_app_id_apps"), "apps", schema="deploy", type_="foreignkey"
    )
    op.drop_index(
        "uq_apps_preview_branch_live",
        table_name="apps",
        schema="deploy",
        postgresql_where=sa.text("parent_app_id IS NOT NULL AND status <> 'deleted'"),
    )
    op.alter_column(
        "apps",
        "slug",
        existing_type=sa.String(length=63),
        type_=sa.VARCHAR(length=40),
        existing_nullable=False,
        schema="deploy",
    )
    op.drop_column("apps", "preview_branch", schema="deploy")
    op.drop_column("apps", "parent_app_id", schema="deploy")
    op.drop_column("apps", "preview_idle_days", schema="deploy")
    op.drop_column("apps", "previews_enabled", schema="deploy")
    op.drop_column("apps", "webhook_secret_set_at", schema="deploy")
    op.drop_column("apps", "webhook_secret_encrypted", schema="deploy")
    op.drop_column("apps", "polled_at", schema="deploy")
    op.drop_column("apps", "poll_interval_seconds", schema="deploy")
    op.drop_column("apps", "allow_force_push", schema="deploy")
    op.drop_column("apps", "auto_deploy", schema="deploy")
    op.drop_index(
        "ix_webhook_deliveries_received", table_name="webhook_deliveries", schema="deploy"
    )
    op.drop_table("webhook_deliveries", schema="deploy")
    op.drop_index("ix_deploy_tokens_app", table_name="deploy_tokens", schema="deploy")
    op.drop_table("deploy_tokens", schema="deploy")
