"""The VPS console's tables, in deploy's schema (registered on deploy's Base by models.py):
its single-use tickets and the audit of each session."""

import uuid
from datetime import datetime

from sqlalchemy import BigInteger, DateTime, ForeignKey, Index, Integer, String
from sqlalchemy.dialects.postgresql import UUID
from sqlalchemy.orm import Mapped, mapped_column

from berth_common.columns import now_timestamp, uuid_pk
from berth_deploy.models import Base


class VpsConsoleToken(Base):
    """A single-use, short-lived ticket to open one VPS's browser console (vps/console).

    Only its SHA-256 is kept; it names the person it was made for and the VPS, and is spent
    (used_at) by the one WebSocket handshake that redeems it.
    """

    __tablename__ = "vps_console_tokens"
    __mapper_args__ = {"eager_defaults": True}
    __table_args__ = (Index("ix_vps_console_tokens_expires", "expires_at"),)

    id: Mapped[uuid.UUID] = uuid_pk()
    vps_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("vps.id", ondelete="CASCADE"), nullable=False
    )
    user_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), nullable=False)
    token_hash: Mapped[str] = mapped_column(String(64), nullable=False, unique=True)
    created_at: Mapped[datetime] = now_timestamp()
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class VpsConsoleSession(Base):
    """The audit of one console session: who opened which VPS's console, when, for how long,
    how much went each way and why it closed (closed_at null: still open, or its process died
    before it could say)."""

    __tablename__ = "vps_console_sessions"
    __mapper_args__ = {"eager_defaults": True}
    __table_args__ = (
        Index("ix_vps_console_sessions_opened", "opened_at"),
        Index("ix_vps_console_sessions_vps", "vps_id", "opened_at"),
        Index("ix_vps_console_sessions_user", "user_id", "opened_at"),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    vps_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), nullable=False)
    user_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), nullable=False)
    token_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), nullable=False)
    # the browser's address as the web process saw it (Traefik's X-Forwarded-For first hop)
    client_address: Mapped[str | None] = mapped_column(String(64))
    opened_at: Mapped[datetime] = now_timestamp()
    closed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    close_code: Mapped[int | None] = mapped_column(Integer)
    # client_closed | suspended | stopped | deleted | access_lost | revoked | ping_timeout |
    # console_ended | console_unavailable | replaced | too_big | server_shutdown
    close_reason: Mapped[str | None] = mapped_column(String(32))
    bytes_in: Mapped[int] = mapped_column(BigInteger, nullable=False, server_default="0")
    bytes_out: Mapped[int] = mapped_column(BigInteger, nullable=False, server_default="0")
