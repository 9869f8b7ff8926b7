"""Incidents (a platform problem many tickets are about) and their links to tickets, in the
`tickets` schema (registered on tickets' Base by models.py)."""

import uuid
from datetime import datetime

from sqlalchemy import (
    CheckConstraint,
    DateTime,
    ForeignKey,
    Index,
    String,
    text,
)
from sqlalchemy.dialects.postgresql import UUID
from sqlalchemy.orm import Mapped, mapped_column

from berth_common.columns import now_timestamp, touched_timestamp
from berth_tickets.models import Base


class Incident(Base):
    """What monitoring's events said about an incident (its id is monitoring's id)."""

    __tablename__ = "incidents"
    __table_args__ = (
        Index(
            "ix_incidents_open_app",
            "owner_id",
            "app_id",
            postgresql_where=text("status = 'open'"),
        ),
        CheckConstraint("status IN ('open', 'resolved')", name="status"),
    )

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    owner_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), nullable=False)
    # "app:<id>", "host:<name>" or "monitor:<id>" (monitoring's grouping); app_id from it
    group_key: Mapped[str] = mapped_column(String(300), nullable=False)
    app_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    title: Mapped[str] = mapped_column(String(300), nullable=False)
    status: Mapped[str] = mapped_column(String(16), nullable=False)
    opened_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    resolved_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = now_timestamp()
    updated_at: Mapped[datetime] = touched_timestamp()


class TicketIncidentLink(Base):
    __tablename__ = "ticket_incident_links"
    __table_args__ = (CheckConstraint("origin IN ('customer', 'auto', 'staff')", name="origin"),)

    ticket_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("tickets.id", ondelete="CASCADE"), primary_key=True
    )
    incident_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("incidents.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    origin: Mapped[str] = mapped_column(String(16), nullable=False)
    created_at: Mapped[datetime] = now_timestamp()
