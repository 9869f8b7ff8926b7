"""Chat's tables, all in the `chat` schema.

Invariants the tables hold (the database enforces what it can):
- PostgreSQL is the source of truth: a message is a row before anyone is told of it (the
  sender's ack, the fan-out to other replicas). Its `seq` is the conversation's next number
  (`conversations.last_seq` raised in the same transaction), unique per conversation, so a
  client resumes from the last seq it saw and dedupes by seq.
- A retried send is the same message: `client_msg_id` is unique per (conversation, sender).
- Bodies are plain text, size-limited by a check; they are escaped where rendered.
- The handoff state (`bot` → `human` → `bot`, any → `closed`) is a column the service changes
  under a row lock; while `human`, agent and bot messages are refused.
- Every agent request is one `agent_requests` row (the Celery task's state), unique per
  request message, so a redelivered task never asks the agent twice for one message.
"""

import uuid
from datetime import datetime

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, UUID
from sqlalchemy.orm import Mapped, mapped_column

from berth_common.columns import now_timestamp, touched_timestamp, uuid_pk
from berth_common.db import make_base
from berth_common.outbox import add_outbox_tables
from berth_common.tiers import add_account_tiers_table, tiers_table

SCHEMA = "chat"
Base = make_base(SCHEMA)
add_outbox_tables(Base.metadata)
# customers' tiers as billing announces them (retention per tier)
add_account_tiers_table(Base.metadata)
AccountTiers = tiers_table(Base.metadata, SCHEMA)

#: the largest body the database accepts (the service's limit, CHAT_MESSAGE_MAX_CHARS, is lower)
BODY_MAX_CHARS = 64 * 1024


class Conversation(Base):
    """A customer's chat: with support (`support`), or with one of their agent apps (`agent`)."""

    __tablename__ = "conversations"
    __mapper_args__ = {"eager_defaults": True}
    __table_args__ = (
        Index("ix_conversations_customer_updated", "customer_id", "updated_at"),
        # staff's list of open conversations
        Index(
            "ix_conversations_open",
            "state",
            "updated_at",
            postgresql_where=text("state <> 'closed'"),
        ),
        Index("ix_conversations_assignee", "assignee_id", "state"),
        CheckConstraint("kind IN ('support', 'agent')", name="kind"),
        CheckConstraint("state IN ('bot', 'human', 'closed')", name="state"),
        CheckConstraint("(kind = 'agent') = (agent_app_id IS NOT NULL)", name="agent_app"),
        CheckConstraint("state <> 'human' OR assignee_id IS NOT NULL", name="human_assigned"),
        CheckConstraint("(state = 'closed') = (closed_at IS NOT NULL)", name="closed_at"),
        CheckConstraint("last_seq >= 0", name="last_seq"),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    customer_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), nullable=False)
    kind: Mapped[str] = mapped_column(String(16), nullable=False)
    # deploy's app id of the customer's ai-agent app (checked theirs at creation)
    agent_app_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    state: Mapped[str] = mapped_column(String(16), nullable=False, server_default="bot")
    assignee_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    subject: Mapped[str | None] = mapped_column(String(200))
    # the seq of its newest message (0: none yet); raised with every message, under the lock
    last_seq: Mapped[int] = mapped_column(BigInteger, nullable=False, server_default="0")
    # the tickets service's ticket this conversation was turned into
    ticket_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    created_at: Mapped[datetime] = now_timestamp()
    updated_at: Mapped[datetime] = touched_timestamp()
    closed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class Message(Base):
    """One message of a conversation, numbered by `seq` (1, 2, 3, ... per conversation)."""

    __tablename__ = "messages"
    __mapper_args__ = {"eager_defaults": True}
    __table_args__ = (
        UniqueConstraint("conversation_id", "seq", name="uq_messages_conversation_seq"),
        # a retried send (same client_msg_id from the same sender) is the same message
        UniqueConstraint(
            "conversation_id",
            "sender_kind",
            "sender_id",
            "client_msg_id",
            name="uq_messages_client_msg",
        ),
        Index("ix_messages_created", "created_at"),
        # retention per tier: a conversation's messages older than its customer's cutoff
        Index("ix_messages_conversation_created", "conversation_id", "created_at"),
        CheckConstraint("seq > 0", name="seq"),
        CheckConstraint(
            "sender_kind IN ('customer', 'staff', 'agent', 'system')", name="sender_kind"
        ),
        CheckConstraint("status IN ('complete', 'streaming', 'failed')", name="status"),
        CheckConstraint(f"char_length(body) <= {BODY_MAX_CHARS}", name="body_size"),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    conversation_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("conversations.id", ondelete="CASCADE"), nullable=False
    )
    seq: Mapped[int] = mapped_column(BigInteger, nullable=False)
    client_msg_id: Mapped[str | None] = mapped_column(String(64))
    sender_kind: Mapped[str] = mapped_column(String(16), nullable=False)
    sender_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    # plain text, never HTML: escaped wherever it is rendered
    body: Mapped[str] = mapped_column(Text, nullable=False)
    status: Mapped[str] = mapped_column(String(16), nullable=False, server_default="complete")
    created_at: Mapped[datetime] = now_timestamp()
    updated_at: Mapped[datetime] = touched_timestamp()


class ReadMarker(Base):
    """How far a participant has read a conversation (only ever moves forward)."""

    __tablename__ = "read_markers"
    __table_args__ = (CheckConstraint("last_read_seq >= 0", name="last_read_seq"),)

    conversation_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("conversations.id", ondelete="CASCADE"), primary_key=True
    )
    participant_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    last_read_seq: Mapped[int] = mapped_column(BigInteger, nullable=False, server_default="0")
    updated_at: Mapped[datetime] = touched_timestamp()


class AgentRequest(Base):
    """One question to an agent app: the Celery task's work and outcome (chat-agents)."""

    __tablename__ = "agent_requests"
    __mapper_args__ = {"eager_defaults": True}
    __table_args__ = (
        UniqueConstraint("conversation_id", "request_seq", name="uq_agent_requests_request"),
        Index(
            "ix_agent_requests_pending",
            "status",
            "created_at",
            postgresql_where=text("status IN ('queued', 'running')"),
        ),
        CheckConstraint(
            "status IN ('queued', 'running', 'done', 'failed', 'refused')", name="status"
        ),
        CheckConstraint("attempts >= 0", name="attempts"),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    conversation_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("conversations.id", ondelete="CASCADE"), nullable=False
    )
    # the customer's message this answers
    request_seq: Mapped[int] = mapped_column(BigInteger, nullable=False)
    # the answer's message once it began (streaming) or finished
    reply_message_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("messages.id", ondelete="SET NULL")
    )
    status: Mapped[str] = mapped_column(String(16), nullable=False, server_default="queued")
    attempts: Mapped[int] = mapped_column(Integer, nullable=False, server_default="0")
    error: Mapped[str | None] = mapped_column(String(500))
    created_at: Mapped[datetime] = now_timestamp()
    updated_at: Mapped[datetime] = touched_timestamp()
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


# -- chat-agents: what a system notice offers the customer ---------------------------------------


class MessageActions(Base):
    """The actions a system notice offers (e.g. an agent down: `switch_to_support`,
    `open_ticket`); shown as buttons next to the message, by name."""

    __tablename__ = "message_actions"
    __table_args__ = (
        CheckConstraint("cardinality(actions) BETWEEN 1 AND 8", name="actions_count"),
    )

    message_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("messages.id", ondelete="CASCADE"), primary_key=True
    )
    actions: Mapped[list[str]] = mapped_column(ARRAY(String(40)), nullable=False)
