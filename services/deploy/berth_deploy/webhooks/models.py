"""Forge webhooks' table, in deploy's schema (registered on deploy's Base by models.py):
every delivery taken, once, with what came of it."""

import uuid
from datetime import datetime

from sqlalchemy import (
    ForeignKey,
    Index,
    String,
    UniqueConstraint,
)
from sqlalchemy.dialects.postgresql import UUID
from sqlalchemy.orm import Mapped, mapped_column

from berth_common.columns import now_timestamp, uuid_pk
from berth_deploy.models import Base


class WebhookDelivery(Base):
    """One forge webhook delivery taken: its id is unique per app and forge, so a redelivery
    is answered from here and never deploys twice."""

    __tablename__ = "webhook_deliveries"
    __mapper_args__ = {"eager_defaults": True}
    __table_args__ = (
        UniqueConstraint("app_id", "forge", "delivery_id"),
        Index("ix_webhook_deliveries_received", "received_at"),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    app_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("apps.id", ondelete="CASCADE"), nullable=False
    )
    forge: Mapped[str] = mapped_column(String(16), nullable=False)
    delivery_id: Mapped[str] = mapped_column(String(200), nullable=False)
    event: Mapped[str] = mapped_column(String(40), nullable=False)
    branch: Mapped[str | None] = mapped_column(String(255))
    commit_sha: Mapped[str | None] = mapped_column(String(64))
    # deployed | ignored | preview | preview_removed | disabled ...: what came of it
    outcome: Mapped[str] = mapped_column(String(32), nullable=False)
    operation_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    received_at: Mapped[datetime] = now_timestamp()
