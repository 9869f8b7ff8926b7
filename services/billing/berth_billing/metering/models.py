"""Metering's tables: each instance's running interval, its charge per hour, each pass."""

import uuid
from datetime import datetime

from sqlalchemy import BigInteger, DateTime, ForeignKey, Index, Integer, String
from sqlalchemy.dialects.postgresql import UUID
from sqlalchemy.orm import Mapped, mapped_column

from berth_billing.models import Base
from berth_common.columns import now_timestamp, uuid_pk


class UsageInterval(Base):
    """One instance's running time, from deploy's events (either may arrive first)."""

    __tablename__ = "usage_intervals"
    __table_args__ = (
        Index("ix_usage_intervals_span", "started_at", "stopped_at"),
        Index("ix_usage_intervals_updated", "updated_at"),
        Index("ix_usage_intervals_owner", "owner_id"),
    )

    instance_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    app_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    app_slug: Mapped[str | None] = mapped_column(String(120))
    owner_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), nullable=False)
    account_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("accounts.id"), nullable=False)
    plan_key: Mapped[str] = mapped_column(String(48), nullable=False)
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    stopped_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    stop_reason: Mapped[str | None] = mapped_column(String(64))
    updated_at: Mapped[datetime] = now_timestamp()


class UsageCharge(Base):
    """The charge for one instance in one hour: the key makes reruns harmless.

    Keyed (hour, account_id, instance_id): an hourly run inserts in that order, after every
    earlier hour, so its rows fill the key's last pages rather than pages across all of
    history. A wallet's charges over a period are read one hour at a time. An instance's
    wallet is fixed once its interval is recorded (a trigger on usage_intervals), so the key
    is unique exactly when (hour, instance_id) is: one charge per instance-hour.
    """

    __tablename__ = "usage_charges"

    # references checked per statement by a trigger (ledger_at_scale migration)
    hour: Mapped[datetime] = mapped_column(DateTime(timezone=True), primary_key=True)
    account_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    instance_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    app_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    app_slug: Mapped[str | None] = mapped_column(String(120))
    plan_key: Mapped[str] = mapped_column(String(48), nullable=False)
    minutes: Mapped[int] = mapped_column(Integer, nullable=False)
    unit_price: Mapped[int] = mapped_column(BigInteger, nullable=False)
    amount: Mapped[int] = mapped_column(BigInteger, nullable=False)
    currency: Mapped[str] = mapped_column(String(3), nullable=False)
    # NULL for a zero-amount charge (nothing to post)
    transaction_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    created_at: Mapped[datetime] = now_timestamp()


class MeteringRun(Base):
    """One pass over one hour; a pass after the first only looks at intervals changed since."""

    __tablename__ = "metering_runs"
    __table_args__ = (Index("ix_metering_runs_hour", "hour", "finished_at"),)

    id: Mapped[uuid.UUID] = uuid_pk()
    hour: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    triggered_by: Mapped[str] = mapped_column(String(120), nullable=False)
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    charges: Mapped[int] = mapped_column(Integer, nullable=False, server_default="0")
    amount: Mapped[int] = mapped_column(BigInteger, nullable=False, server_default="0")
