"""The inbound side of email, in the `tickets` schema (registered on tickets' Base by
models.py): every mail as the SMTP receiver took it off the wire, and every email the desk
received with what became of it."""

import uuid
from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Index, Integer, LargeBinary, String, text
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Mapped, mapped_column

from berth_common.columns import now_timestamp, uuid_pk
from berth_tickets.models import Base


class InboundEmail(Base):
    """Every email the desk received, with what became of it (InboundOutcome): nothing is
    dropped without a trace."""

    __tablename__ = "inbound_emails"
    __table_args__ = (
        Index("ix_inbound_emails_received", "received_at"),
        Index("ix_inbound_emails_message_id", "message_id"),
        CheckConstraint(
            "outcome IN ('accepted', 'ignored_autoreply', 'rejected_token', "
            "'rejected_unknown', 'duplicate')",
            name="outcome",
        ),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    message_id: Mapped[str | None] = mapped_column(String(998))
    in_reply_to: Mapped[str | None] = mapped_column(String(998))
    from_address: Mapped[str] = mapped_column(String(254), nullable=False)
    to_address: Mapped[str] = mapped_column(String(254), nullable=False)
    subject: Mapped[str] = mapped_column(String(998), nullable=False, server_default="")
    size_bytes: Mapped[int] = mapped_column(Integer, nullable=False, server_default="0")
    outcome: Mapped[str] = mapped_column(String(24), nullable=False)
    detail: Mapped[str | None] = mapped_column(String(500))
    ticket_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("tickets.id", ondelete="SET NULL"), index=True
    )
    ticket_message_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("ticket_messages.id", ondelete="SET NULL")
    )
    received_at: Mapped[datetime] = now_timestamp()


class InboundRawEmail(Base):
    """A mail as the inbound SMTP receiver took it off the wire, stored (with its processing
    task in the outbox) before the receiver answers 250: a worker that dies loses nothing,
    the task runs again. `inbound_email_id` is set once processing recorded its outcome, so
    a redelivered task does nothing twice."""

    __tablename__ = "inbound_raw_emails"
    __table_args__ = (
        Index(
            "ix_inbound_raw_emails_unprocessed",
            "received_at",
            postgresql_where=text("inbound_email_id IS NULL"),
        ),
        CheckConstraint("size_bytes >= 0", name="size"),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    # the envelope: MAIL FROM ("" for a bounce) and the accepted RCPT TOs
    mail_from: Mapped[str] = mapped_column(String(998), nullable=False, server_default="")
    rcpt_tos: Mapped[list[str]] = mapped_column(ARRAY(String(254)), nullable=False)
    peer: Mapped[str] = mapped_column(String(100), nullable=False, server_default="")
    raw: Mapped[bytes] = mapped_column(LargeBinary, nullable=False)
    size_bytes: Mapped[int] = mapped_column(Integer, nullable=False)
    received_at: Mapped[datetime] = now_timestamp()
    inbound_email_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("inbound_emails.id", ondelete="SET NULL"), unique=True
    )
