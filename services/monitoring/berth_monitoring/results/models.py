"""Check results, in the `monitoring` schema (registered on monitoring's Base): raw results in
daily partitions and minute rollups.

`results`, `result_failures` and `rollup_minutes` are PARTITION BY RANGE on their time column,
one partition per UTC day named <table>_pYYYYMMDD. The partitions are not Alembic's: the
SECURITY DEFINER functions `ensure_day_partitions` / `drop_day_partitions` (migration
7c1e0d9a4b21) create them ahead and drop them whole, called by the retention task.
"""

import uuid
from datetime import datetime

from sqlalchemy import DateTime, Integer, SmallInteger, String
from sqlalchemy.dialects.postgresql import ARRAY, UUID
from sqlalchemy.orm import Mapped, mapped_column

from berth_monitoring.models import Base

PARTITIONED_TABLES = ("results", "result_failures", "rollup_minutes")


class ResultBatch(Base):
    """The results of one claimed batch, one row for many checks: parallel arrays indexed
    alike (a monitor's `seq`, ms after `at` its check started, latency in ms — both capped at
    32,767 — and the outcome code: 0 ok, else berth_monitoring.results.codes). 10 bytes a
    check, instead of a row (and an index entry) each; a failure's status and reason are in
    `result_failures`."""

    __tablename__ = "results"
    __table_args__ = ({"postgresql_partition_by": "RANGE (at)"},)

    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), primary_key=True)
    batch: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    seqs: Mapped[list[int]] = mapped_column(ARRAY(Integer), nullable=False)
    offsets_ms: Mapped[list[int]] = mapped_column(ARRAY(SmallInteger), nullable=False)
    latency_ms: Mapped[list[int]] = mapped_column(ARRAY(SmallInteger), nullable=False)
    outcomes: Mapped[list[int]] = mapped_column(ARRAY(SmallInteger), nullable=False)


class ResultFailure(Base):
    """Only failures keep their reason, one small row each (a monitor's recent failures)."""

    __tablename__ = "result_failures"
    __table_args__ = ({"postgresql_partition_by": "RANGE (at)"},)

    monitor_seq: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), primary_key=True)
    error_kind: Mapped[str] = mapped_column(String(24), nullable=False)
    status: Mapped[int | None] = mapped_column(SmallInteger)
    reason: Mapped[str] = mapped_column(String(500), nullable=False)


class MinuteRollup(Base):
    """Checks of one monitor in each minute of one hour, as 60-slot arrays (slot i = minute i):
    one row per monitor and hour instead of a row per minute (short retention: the last
    hours' charts and the 1-hour uptime)."""

    __tablename__ = "rollup_minutes"
    __table_args__ = ({"postgresql_partition_by": "RANGE (hour)"},)

    monitor_seq: Mapped[int] = mapped_column(Integer, primary_key=True)
    hour: Mapped[datetime] = mapped_column(DateTime(timezone=True), primary_key=True)
    checks: Mapped[list[int]] = mapped_column(ARRAY(SmallInteger), nullable=False)
    up_checks: Mapped[list[int]] = mapped_column(ARRAY(SmallInteger), nullable=False)
    latency_sum_ms: Mapped[list[int]] = mapped_column(ARRAY(Integer), nullable=False)
    latency_max_ms: Mapped[list[int]] = mapped_column(ARRAY(SmallInteger), nullable=False)


class RollupWatermark(Base):
    """How far the rollups are computed: minutes before `done_until` are final."""

    __tablename__ = "rollup_watermarks"

    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    done_until: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
