"""check results: raw results, failures and minute rollups in daily partitions

Revision ID: 7c1e0d9a4b21
Revises: fcb4a30a3841
Create Date: 2026-11-30 01:50:00

The partitions themselves are made and dropped by two SECURITY DEFINER functions owned by the
schema's owner role: the service's runtime role owns nothing (berth_common.dbroles), yet its
retention task must add tomorrow's partitions and drop expired days whole. The functions only
touch the three partitioned tables and only names they build themselves.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "7c1e0d9a4b21"
down_revision: str | Sequence[str] | None = "fcb4a30a3841"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ENSURE = """
CREATE FUNCTION monitoring.ensure_day_partitions(parent text, first_day date, days integer)
RETURNS integer LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp AS $fn$
DECLARE
    d date;
    part text;
    made integer := 0;
BEGIN
    IF parent NOT IN ('results', 'result_failures', 'rollup_minutes') THEN
        RAISE EXCEPTION 'not a day-partitioned table: %', parent;
    END IF;
    IF days < 1 OR days > 31 THEN
        RAISE EXCEPTION 'days out of range: %', days;
    END IF;
    FOR i IN 0 .. days - 1 LOOP
        d := first_day + i;
        part := parent || '_p' || to_char(d, 'YYYYMMDD');
        IF to_regclass(format('monitoring.%I', part)) IS NULL THEN
            EXECUTE format(
                'CREATE TABLE monitoring.%I PARTITION OF monitoring.%I FOR VALUES FROM (%L) TO (%L)',
                part, parent,
                (d::timestamp AT TIME ZONE 'UTC'), ((d + 1)::timestamp AT TIME ZONE 'UTC'));
            made := made + 1;
        END IF;
    END LOOP;
    RETURN made;
END
$fn$
"""

DROP = """
CREATE FUNCTION monitoring.drop_day_partitions(parent text, before_day date)
RETURNS integer LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp AS $fn$
DECLARE
    r record;
    dropped integer := 0;
BEGIN
    IF parent NOT IN ('results', 'result_failures', 'rollup_minutes') THEN
        RAISE EXCEPTION 'not a day-partitioned table: %', parent;
    END IF;
    FOR r IN
        SELECT c.relname
        FROM pg_inherits i
        JOIN pg_class c ON c.oid = i.inhrelid
        JOIN pg_class p ON p.oid = i.inhparent
        JOIN pg_namespace n ON n.oid = p.relnamespace
        WHERE n.nspname = 'monitoring' AND p.relname = parent
          AND c.relname ~ ('^' || parent || '_p[0-9]{8}$')
          AND to_date(right(c.relname, 8), 'YYYYMMDD') < before_day
    LOOP
        EXECUTE format('DROP TABLE monitoring.%I', r.relname);
        dropped := dropped + 1;
    END LOOP;
    RETURN dropped;
END
$fn$
"""


def upgrade() -> None:
    op.create_table(
        "results",
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("batch", sa.UUID(), nullable=False),
        sa.Column("seqs", postgresql.ARRAY(sa.Integer()), nullable=False),
        sa.Column("offsets_ms", postgresql.ARRAY(sa.SmallInteger()), nullable=False),
        sa.Column("latency_ms", postgresql.ARRAY(sa.SmallInteger()), nullable=False),
        sa.Column("outcomes", postgresql.ARRAY(sa.SmallInteger()), nullable=False),
        sa.PrimaryKeyConstraint("at", "batch", name=op.f("pk_results")),
        schema="monitoring",
        postgresql_partition_by="RANGE (at)",
    )
    op.create_table(
        "result_failures",
        sa.Column("monitor_seq", sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("error_kind", sa.String(length=24), nullable=False),
        sa.Column("status", sa.SmallInteger(), nullable=True),
        sa.Column("reason", sa.String(length=500), nullable=False),
        sa.PrimaryKeyConstraint("monitor_seq", "at", name=op.f("pk_result_failures")),
        schema="monitoring",
        postgresql_partition_by="RANGE (at)",
    )
    op.create_table(
        "rollup_minutes",
        sa.Column("monitor_seq", sa.Integer(), nullable=False),
        sa.Column("hour", sa.DateTime(timezone=True), nullable=False),
        sa.Column("checks", postgresql.ARRAY(sa.SmallInteger()), nullable=False),
        sa.Column("up_checks", postgresql.ARRAY(sa.SmallInteger()), nullable=False),
        sa.Column("latency_sum_ms", postgresql.ARRAY(sa.Integer()), nullable=False),
        sa.Column("latency_max_ms", postgresql.ARRAY(sa.SmallInteger()), nullable=False),
        sa.PrimaryKeyConstraint("monitor_seq", "hour", name=op.f("pk_rollup_minutes")),
        schema="monitoring",
        postgresql_partition_by="RANGE (hour)",
    )
    op.create_table(
        "rollup_watermarks",
        sa.Column("name", sa.String(length=32), nullable=False),
        sa.Column("done_until", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_rollup_watermarks")),
        schema="monitoring",
    )
    op.execute(ENSURE)
    op.execute(DROP)
    for table in ("results", "result_failures", "rollup_minutes"):
        op.execute(
            f"SELECT monitoring.ensure_day_partitions('{table}', "
            "(now() AT TIME ZONE 'UTC')::date, 3)"
        )


def downgrade() -> None:
    op.execute("DROP FUNCTION monitoring.drop_day_partitions(text, date)")
    op.execute("DROP FUNCTION monitoring.ensure_day_partitions(text, date, integer)")
    op.drop_table("rollup_watermarks", schema="monitoring")
    op.drop_table("rollup_minutes", schema="monitoring")
    op.drop_table("result_failures", schema="monitoring")
    op.drop_table("results", schema="monitoring")
