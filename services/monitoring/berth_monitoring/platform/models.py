"""What deploy's and billing's events said about apps and owners, in the `monitoring` schema
(registered on monitoring's Base): the platform's monitors of apps follow these rows.

Events may arrive out of order; each row keeps the moment of the word it holds, and an older
word never overwrites a newer one.
"""

import uuid
from datetime import datetime

from sqlalchemy import Boolean, DateTime, Index, String
from sqlalchemy.dialects.postgresql import UUID
from sqlalchemy.orm import Mapped, mapped_column

from berth_common.columns import touched_timestamp
from berth_monitoring.models import Base


class PlatformApp(Base):
    """An app as deploy's instance events describe it: which instance runs, or why none does."""

    __tablename__ = "platform_apps"
    __table_args__ = (Index("ix_platform_apps_owner", "owner_id"),)

    app_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    owner_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), nullable=False)
    instance_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    running: Mapped[bool] = mapped_column(Boolean, nullable=False, server_default="false")
    # Suppression the app's own lifecycle asks for (stopped by its owner, suspended), or null
    suppression: Mapped[str | None] = mapped_column(String(16))
    deleted: Mapped[bool] = mapped_column(Boolean, nullable=False, server_default="false")
    # the moment of the lifecycle event applied last (started_at / stopped_at of its payload)
    lifecycle_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = touched_timestamp()


class PlatformOwner(Base):
    """Billing's latest word on an owner: suspended or not, and when it said so."""

    __tablename__ = "platform_owners"

    owner_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    suspended: Mapped[bool] = mapped_column(Boolean, nullable=False)
    changed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)


class PlatformOperation(Base):
    """A deploy operation of an app: its monitors are muted from its start to its end + a tail
    (either event may come first)."""

    __tablename__ = "platform_operations"
    __table_args__ = (Index("ix_platform_operations_app", "app_id"),)

    operation_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    app_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), nullable=False)
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
