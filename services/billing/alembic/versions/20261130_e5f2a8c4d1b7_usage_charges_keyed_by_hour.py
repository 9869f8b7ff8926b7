"""usage charges keyed by (hour, instance_id): no surrogate id

Revision ID: e5f2a8c4d1b7
Revises: b7d3e5a91c24
Create Date: 2026-11-30 16:15:00

An hourly metering run inserts a usage charge per running instance (1M rows for 1M
instances). The surrogate id cost a sequence call and an index insertion per row, and nothing
refers to a charge by it. The charge's identity, which makes a rerun of an hour charge nothing
twice, becomes its primary key, hour first: a run's insertions then fall in the hour's own
part of the index instead of at random over every hour ever charged.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "e5f2a8c4d1b7"
down_revision: str | Sequence[str] | None = "b7d3e5a91c24"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.drop_constraint(
        "uq_usage_charges_instance_id_hour", "usage_charges", schema="billing", type_="unique"
    )
    op.drop_column("usage_charges", "id", schema="billing")  # its primary key goes with it
    op.create_primary_key(
        "pk_usage_charges", "usage_charges", ["hour", "instance_id"], schema="billing"
    )


def downgrade() -> None:
    op.drop_constraint("pk_usage_charges", "usage_charges", schema="billing", type_="primary")
    # bigserial, as the initial schema made it (each existing row gets a number)
    op.execute("ALTER TABLE billing.usage_charges ADD COLUMN id BIGSERIAL NOT NULL")
    op.create_primary_key("pk_usage_charges", "usage_charges", ["id"], schema="billing")
    op.create_unique_constraint(
        "uq_usage_charges_instance_id_hour",
        "usage_charges",
        ["instance_id", "hour"],
        schema="billing",
    )
