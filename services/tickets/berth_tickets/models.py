"""Tickets' tables, all in the `tickets` schema.

Invariants the tables hold (the database enforces what it can):
- What a customer may read is `tickets` and `ticket_messages` of their own tickets, nothing
  else. Internal notes are a separate table (`internal_notes`), never a flag on a message, so
  no query over messages — the customer API, search, an email renderer — can reach a note.
- A ticket's number (`T-000123`) is an identity, never reused; its id (UUID) is what URLs use.
- SLA due times are absolute moments computed in business minutes over the policy's calendar
  (`berth_tickets.sla.service`); while a ticket waits on the customer they are frozen
  (`paused_since`) and pushed on by the business time that passed when it resumes.
- A breach is recorded once: `ticket_events` has a unique (ticket_id, dedupe_key) for events
  that must not repeat (a breach per due window, an auto-close, a link).
- Every received email is a row of `inbound_emails` with its outcome; a Message-ID is a
  message of a thread at most once (`ticket_messages.email_message_id` unique).
- Every notification is one `outgoing_emails` row (unique `notification_key`), sent by the
  common guarded send through the outbox.
"""

import uuid
from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Computed,
    Date,
    DateTime,
    ForeignKey,
    Identity,
    Index,
    Integer,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, TSVECTOR, UUID
from sqlalchemy.orm import Mapped, mapped_column

from berth_common.columns import now_timestamp, touched_timestamp, uuid_pk
from berth_common.db import make_base
from berth_common.mail import OutgoingEmailColumns
from berth_common.outbox import add_outbox_tables
from berth_common.tiers import add_account_tiers_table, tiers_table

SCHEMA = "tickets"
Base = make_base(SCHEMA)
add_outbox_tables(Base.metadata)
# customers' tiers as billing announces them (a new ticket's SLA policy)
add_account_tiers_table(Base.metadata)
AccountTiers = tiers_table(Base.metadata, SCHEMA)

#: the text search configuration of subjects and messages: no stemming, any language
TS_CONFIG = "simple"

TICKET_STATUSES = "'open', 'waiting_customer', 'closed', 'merged'"
PRIORITIES = "'low', 'normal', 'high', 'urgent'"


class BusinessCalendar(Base):
    """When the desk works: a timezone, weekly hours and holidays (SLA minutes count only
    inside them). `weekly_hours` maps ISO weekday "1".."7" (Monday 1) to a list of
    ["HH:MM", "HH:MM"] local intervals ("24:00" ends a day); a day absent has no hours."""

    __tablename__ = "business_calendars"

    id: Mapped[uuid.UUID] = uuid_pk()
    name: Mapped[str] = mapped_column(String(80), nullable=False, unique=True)
    timezone: Mapped[str] = mapped_column(String(64), nullable=False)
    weekly_hours: Mapped[dict[str, Any]] = mapped_column(JSONB, nullable=False)
    # whole local days off (the desk is closed all of that date)
    holidays: Mapped[list[date]] = mapped_column(
        ARRAY(Date), nullable=False, server_default=text("'{}'::date[]")
    )
    created_at: Mapped[datetime] = now_timestamp()
    updated_at: Mapped[datetime] = touched_timestamp()


class SlaPolicy(Base):
    """How fast the desk answers: per plan tier and priority, minutes of business time (over
    `calendar`; none: around the clock) to the first response, to each next response after
    a customer's message, and to the resolution."""

    __tablename__ = "sla_policies"
    __table_args__ = (
        UniqueConstraint("plan_tier", "priority"),
        CheckConstraint(f"priority IN ({PRIORITIES})", name="priority"),
        CheckConstraint(
            "first_response_minutes > 0 AND next_response_minutes > 0 AND resolution_minutes > 0",
            name="minutes_positive",
        ),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    plan_tier: Mapped[str] = mapped_column(String(40), nullable=False)
    priority: Mapped[str] = mapped_column(String(16), nullable=False)
    first_response_minutes: Mapped[int] = mapped_column(Integer, nullable=False)
    next_response_minutes: Mapped[int] = mapped_column(Integer, nullable=False)
    resolution_minutes: Mapped[int] = mapped_column(Integer, nullable=False)
    calendar_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("business_calendars.id", ondelete="RESTRICT"), index=True
    )
    created_at: Mapped[datetime] = now_timestamp()
    updated_at: Mapped[datetime] = touched_timestamp()


class Department(Base):
    """Where a ticket goes (Billing, Technical...): its agents share its queue round-robin."""

    __tablename__ = "departments"

    id: Mapped[uuid.UUID] = uuid_pk()
    slug: Mapped[str] = mapped_column(String(40), nullable=False, unique=True)
    name: Mapped[str] = mapped_column(String(80), nullable=False)
    description: Mapped[str] = mapped_column(String(500), nullable=False, server_default="")
    # closed departments take no new tickets; their tickets stay
    is_active: Mapped[bool] = mapped_column(Boolean, nullable=False, server_default="true")
    created_at: Mapped[datetime] = now_timestamp()
    updated_at: Mapped[datetime] = touched_timestamp()


class DepartmentAgent(Base):
    """A support person in a department's round-robin: the active agent assigned longest ago
    (never first) takes the next ticket."""

    __tablename__ = "department_agents"
    __table_args__ = (Index("ix_department_agents_rotation", "department_id", "last_assigned_at"),)

    department_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("departments.id", ondelete="CASCADE"), primary_key=True
    )
    agent_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    is_active: Mapped[bool] = mapped_column(Boolean, nullable=False, server_default="true")
    last_assigned_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = now_timestamp()


class Ticket(Base):
    """A customer's request. Customers see it and its public messages; staff also see its
    `context` (gathered at creation), internal notes, events and SLA timers."""

    __tablename__ = "tickets"
    __mapper_args__ = {"eager_defaults": True}
    __table_args__ = (
        Index("ix_tickets_owner_updated", "owner_id", "updated_at"),
        Index("ix_tickets_queue", "status", "department_id", "priority", "updated_at"),
        Index("ix_tickets_assignee_status", "assignee_id", "status"),
        Index("ix_tickets_subject_tsv", "subject_tsv", postgresql_using="gin"),
        # the beats' scans: running SLA timers, and tickets waiting on their customer
        Index(
            "ix_tickets_sla_running",
            "status",
            "paused_since",
            postgresql_where=text("status IN ('open', 'waiting_customer')"),
        ),
        Index(
            "ix_tickets_waiting_since",
            "waiting_since",
            postgresql_where=text("status = 'waiting_customer'"),
        ),
        CheckConstraint(f"status IN ({TICKET_STATUSES})", name="status"),
        CheckConstraint(f"priority IN ({PRIORITIES})", name="priority"),
        CheckConstraint(
            "(link_kind IS NULL) = (link_id IS NULL) "
            "AND (link_kind IS NULL OR link_kind IN ('app', 'invoice', 'incident'))",
            name="one_link",
        ),
        CheckConstraint("rating IS NULL OR rating BETWEEN 1 AND 5", name="rating_range"),
        CheckConstraint("(status = 'merged') = (merged_into_id IS NOT NULL)", name="merged"),
        CheckConstraint("merged_into_id IS NULL OR merged_into_id <> id", name="not_self"),
        CheckConstraint("paused_seconds >= 0 AND reopened_count >= 0", name="counters"),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    # shown as T-000123 (berth_tickets.tickets.service.display_number)
    number: Mapped[int] = mapped_column(BigInteger, Identity(), nullable=False, unique=True)
    owner_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), nullable=False)
    department_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("departments.id", ondelete="RESTRICT"), nullable=False, index=True
    )
    subject: Mapped[str] = mapped_column(String(200), nullable=False)
    subject_tsv: Mapped[Any] = mapped_column(
        TSVECTOR, Computed(f"to_tsvector('{TS_CONFIG}'::regconfig, subject)", persisted=True)
    )
    status: Mapped[str] = mapped_column(String(20), nullable=False, server_default="open")
    priority: Mapped[str] = mapped_column(String(16), nullable=False, server_default="normal")
    assignee_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    plan_tier: Mapped[str] = mapped_column(String(40), nullable=False)

    # one optional thing of the customer's the ticket is about (checked theirs at creation)
    link_kind: Mapped[str | None] = mapped_column(String(16))
    link_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    # for staff only: what the platform knew when the ticket was opened (app, release, last
    # failed check, log lines, balance, state), each part with a note when it was not known
    context: Mapped[dict[str, Any]] = mapped_column(
        JSONB, nullable=False, server_default=text("'{}'::jsonb")
    )

    # SLA (berth_tickets.sla): the policy used, the due moments, the pause, what was met
    sla_policy_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("sla_policies.id", ondelete="SET NULL")
    )
    first_response_due_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    next_response_due_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    resolution_due_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    paused_since: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # wall-clock seconds spent paused in total (reporting; the due times already moved)
    paused_seconds: Mapped[int] = mapped_column(BigInteger, nullable=False, server_default="0")
    first_responded_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    first_response_breached_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    next_response_breached_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    resolution_breached_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    # the thread's rhythm: who spoke last, since when the desk waits on the customer
    last_customer_message_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_staff_reply_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    waiting_since: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    rating: Mapped[int | None] = mapped_column(SmallInteger)
    rating_comment: Mapped[str | None] = mapped_column(String(1000))
    rated_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    closed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    reopened_count: Mapped[int] = mapped_column(Integer, nullable=False, server_default="0")
    merged_into_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("tickets.id", ondelete="RESTRICT")
    )
    # part of the signed reply address: raising it invalidates every address given out
    reply_token_version: Mapped[int] = mapped_column(Integer, nullable=False, server_default="1")
    created_at: Mapped[datetime] = now_timestamp()
    updated_at: Mapped[datetime] = touched_timestamp()


class TicketMessage(Base):
    """A public message of a ticket's thread: the customer's, staff's, or the system's. What
    a customer may read, what search covers, what notifications quote."""

    __tablename__ = "ticket_messages"
    __mapper_args__ = {"eager_defaults": True}
    __table_args__ = (
        Index("ix_ticket_messages_ticket_created", "ticket_id", "created_at"),
        Index("ix_ticket_messages_body_tsv", "body_tsv", postgresql_using="gin"),
        CheckConstraint("author_kind IN ('customer', 'staff', 'system')", name="author_kind"),
        CheckConstraint("via IN ('web', 'email')", name="via"),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    ticket_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("tickets.id", ondelete="CASCADE"), nullable=False
    )
    author_kind: Mapped[str] = mapped_column(String(16), nullable=False)
    author_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    body: Mapped[str] = mapped_column(Text, nullable=False)
    body_tsv: Mapped[Any] = mapped_column(
        TSVECTOR, Computed(f"to_tsvector('{TS_CONFIG}'::regconfig, body)", persisted=True)
    )
    via: Mapped[str] = mapped_column(String(8), nullable=False, server_default="web")
    # an inbound email's Message-ID: the same mail delivered twice is one message
    email_message_id: Mapped[str | None] = mapped_column(String(998), unique=True)
    created_at: Mapped[datetime] = now_timestamp()


class InternalNote(Base):
    """Staff's note on a ticket. A table of its own: nothing that reads messages reads it."""

    __tablename__ = "internal_notes"
    __table_args__ = (Index("ix_internal_notes_ticket_created", "ticket_id", "created_at"),)

    id: Mapped[uuid.UUID] = uuid_pk()
    ticket_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("tickets.id", ondelete="CASCADE"), nullable=False
    )
    author_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), nullable=False)
    body: Mapped[str] = mapped_column(Text, nullable=False)
    created_at: Mapped[datetime] = now_timestamp()
    updated_at: Mapped[datetime] = touched_timestamp()


class Attachment(Base):
    """A file of a ticket (of one public message once sent), kept outside the web root by
    the storage interface under `storage_key`; `content_type` is sniffed from the content,
    `filename` sanitised, and it is served only as a download."""

    __tablename__ = "attachments"
    __table_args__ = (
        Index("ix_attachments_ticket_created", "ticket_id", "created_at"),
        CheckConstraint("size_bytes >= 0", name="size"),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    ticket_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("tickets.id", ondelete="CASCADE"), nullable=False
    )
    message_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("ticket_messages.id", ondelete="SET NULL"), index=True
    )
    uploader_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), nullable=False)
    filename: Mapped[str] = mapped_column(String(255), nullable=False)
    content_type: Mapped[str] = mapped_column(String(127), nullable=False)
    size_bytes: Mapped[int] = mapped_column(BigInteger, nullable=False)
    sha256: Mapped[str] = mapped_column(String(64), nullable=False)
    storage_key: Mapped[str] = mapped_column(String(255), nullable=False, unique=True)
    created_at: Mapped[datetime] = now_timestamp()


class CannedReply(Base):
    """A reply staff start from; variables like {{customer_name}} and {{ticket_number}} are
    substituted from a fixed list (never evaluated). No department: every department's."""

    __tablename__ = "canned_replies"
    __table_args__ = (Index("ix_canned_replies_department_title", "department_id", "title"),)

    id: Mapped[uuid.UUID] = uuid_pk()
    department_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("departments.id", ondelete="CASCADE")
    )
    title: Mapped[str] = mapped_column(String(120), nullable=False)
    body: Mapped[str] = mapped_column(Text, nullable=False)
    created_by: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    created_at: Mapped[datetime] = now_timestamp()
    updated_at: Mapped[datetime] = touched_timestamp()


class TicketEvent(Base):
    """The timeline and audit of a ticket (EventKind): status, assignment, merge, breach.
    `dedupe_key`, when set, makes the event happen at most once per ticket."""

    __tablename__ = "ticket_events"
    __table_args__ = (
        Index("ix_ticket_events_ticket_created", "ticket_id", "created_at"),
        UniqueConstraint("ticket_id", "dedupe_key"),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    ticket_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("tickets.id", ondelete="CASCADE"), nullable=False
    )
    kind: Mapped[str] = mapped_column(String(32), nullable=False)
    actor_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    data: Mapped[dict[str, Any]] = mapped_column(
        JSONB, nullable=False, server_default=text("'{}'::jsonb")
    )
    dedupe_key: Mapped[str | None] = mapped_column(String(120))
    created_at: Mapped[datetime] = now_timestamp()


class OutgoingEmail(OutgoingEmailColumns, Base):
    """A notification to a customer or a staff member, sent by berth_common.mail's task.
    `notification_key` (e.g. "staff_replied:<message id>") makes each one exist once; a row
    with no `to_address` gets its recipient's address from auth when it is sent."""

    __tablename__ = "outgoing_emails"
    __table_args__ = (Index("ix_outgoing_emails_pending", "status", "created_at"),)

    to_address: Mapped[str | None] = mapped_column(String(254))
    recipient_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    template: Mapped[str] = mapped_column(String(40), nullable=False)
    notification_key: Mapped[str] = mapped_column(String(200), nullable=False, unique=True)
    ticket_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("tickets.id", ondelete="SET NULL"), index=True
    )
    # the signed per-ticket address a reply goes to (berth_tickets' mail module sets it)
    reply_to: Mapped[str | None] = mapped_column(String(254))


# --- tickets-web: attachments of internal notes -------------------------------------------


class NoteAttachment(Base):
    """An attachment of an internal note: staff only. Its `attachments` row has no
    `message_id`, and customers read only attachments of public messages (message_id set),
    so a note's file cannot reach them even without looking at this table."""

    __tablename__ = "note_attachments"

    attachment_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("attachments.id", ondelete="CASCADE"), primary_key=True
    )
    note_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("internal_notes.id", ondelete="CASCADE"), nullable=False, index=True
    )


# incidents and the inbound side of email register their tables on this Base too
from berth_tickets.inbound import models as inbound_models  # noqa: E402, F401
from berth_tickets.incidents import models as incident_models  # noqa: E402, F401
