"""Auth's tables, all in the `auth` schema."""

import uuid
from datetime import datetime

from sqlalchemy import (
    Boolean,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, INET, UUID
from sqlalchemy.orm import Mapped, mapped_column

from berth_common.columns import now_timestamp, touched_timestamp, uuid_pk
from berth_common.db import make_base
from berth_common.mail import OutgoingEmailColumns
from berth_common.outbox import add_outbox_tables

SCHEMA = "auth"
Base = make_base(SCHEMA)
add_outbox_tables(Base.metadata)


class User(Base):
    __tablename__ = "users"
    __table_args__ = (
        # the revocation list reads the users whose not-before is recent
        Index(
            "ix_users_tokens_not_before",
            "tokens_not_before",
            postgresql_where=text("tokens_not_before IS NOT NULL"),
        ),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    # stored lower-cased; unique case-insensitively by construction
    email: Mapped[str] = mapped_column(String(254), unique=True, nullable=False)
    password_hash: Mapped[str] = mapped_column(String(255), nullable=False)
    name: Mapped[str] = mapped_column(String(120), nullable=False, server_default="")
    phone: Mapped[str | None] = mapped_column(String(16))
    roles: Mapped[list[str]] = mapped_column(
        ARRAY(String(16)), nullable=False, server_default=text("ARRAY['user']::varchar[]")
    )
    is_blocked: Mapped[bool] = mapped_column(Boolean, nullable=False, server_default="false")
    blocked_reason: Mapped[str | None] = mapped_column(String(500))
    email_verified_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    password_changed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # access tokens issued before this are refused everywhere (block, roles, password)
    tokens_not_before: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = now_timestamp()
    updated_at: Mapped[datetime] = touched_timestamp()


class VerificationCode(Base):
    """A 6-digit code for email verification or password reset; only its HMAC is kept."""

    __tablename__ = "verification_codes"
    __table_args__ = (Index("ix_verification_codes_user_purpose", "user_id", "purpose"),)

    id: Mapped[uuid.UUID] = uuid_pk()
    user_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), nullable=False
    )
    purpose: Mapped[str] = mapped_column(String(32), nullable=False)
    code_hash: Mapped[str] = mapped_column(String(128), nullable=False)
    attempts: Mapped[int] = mapped_column(Integer, nullable=False, server_default="0")
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    consumed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = now_timestamp()


class OAuthClient(Base):
    """The first-party panel client and other teams' machine clients."""

    __tablename__ = "oauth_clients"

    id: Mapped[uuid.UUID] = uuid_pk()
    client_id: Mapped[str] = mapped_column(String(64), unique=True, nullable=False)
    client_secret_hash: Mapped[str | None] = mapped_column(String(255))
    name: Mapped[str] = mapped_column(String(120), nullable=False)
    kind: Mapped[str] = mapped_column(String(16), nullable=False)  # ClientKind
    grant_types: Mapped[list[str]] = mapped_column(ARRAY(String(32)), nullable=False)
    scopes: Mapped[list[str]] = mapped_column(
        ARRAY(String(64)), nullable=False, server_default=text("ARRAY[]::varchar[]")
    )
    created_by: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = now_timestamp()


class RefreshTokenFamily(Base):
    """One login session: every refresh token rotated from one password grant."""

    __tablename__ = "refresh_token_families"
    __table_args__ = (
        Index("ix_refresh_token_families_user", "user_id", "created_at"),
        # the revocation list reads the recently revoked ones
        Index(
            "ix_refresh_token_families_revoked",
            "revoked_at",
            postgresql_where=text("revoked_at IS NOT NULL"),
        ),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    user_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), nullable=False
    )
    client_id: Mapped[str] = mapped_column(String(64), nullable=False)
    ip: Mapped[str | None] = mapped_column(INET)
    user_agent: Mapped[str | None] = mapped_column(String(512))
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    last_used_at: Mapped[datetime] = now_timestamp()
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    revoked_reason: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = now_timestamp()


class RefreshToken(Base):
    __tablename__ = "refresh_tokens"
    __table_args__ = (Index("ix_refresh_tokens_family", "family_id"),)

    id: Mapped[uuid.UUID] = uuid_pk()
    family_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("refresh_token_families.id", ondelete="CASCADE"), nullable=False
    )
    token_hash: Mapped[str] = mapped_column(String(128), unique=True, nullable=False)
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = now_timestamp()


class LoginEvent(Base):
    """Login history, and the counts brute-force protection reads."""

    __tablename__ = "login_events"
    __table_args__ = (
        Index("ix_login_events_user_time", "user_id", "created_at"),
        Index("ix_login_events_ip_time", "ip", "created_at"),
        Index("ix_login_events_email_time", "email", "created_at"),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    user_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    email: Mapped[str] = mapped_column(String(254), nullable=False)
    kind: Mapped[str] = mapped_column(String(32), nullable=False, server_default="login")
    ip: Mapped[str | None] = mapped_column(INET)
    user_agent: Mapped[str | None] = mapped_column(String(512))
    success: Mapped[bool] = mapped_column(Boolean, nullable=False)
    reason: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = now_timestamp()


class LoginAttemptWindow(Base):
    """Password attempts at one account (email) from one address in the current window.

    The per-(account, address) login limit is one upsert on this row (see berth_auth.throttle):
    concurrent attempts are counted one by one, so no more than the limit are ever evaluated.
    """

    __tablename__ = "login_attempt_windows"

    email: Mapped[str] = mapped_column(String(254), primary_key=True)
    ip: Mapped[str] = mapped_column(String(45), primary_key=True)  # "" when unknown
    window_started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    attempts: Mapped[int] = mapped_column(Integer, nullable=False)


class AuditNote(Base):
    """Who changed what on a user (admin actions); kept for support and disputes."""

    __tablename__ = "audit_notes"

    id: Mapped[uuid.UUID] = uuid_pk()
    actor_id: Mapped[str] = mapped_column(String(64), nullable=False)
    user_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True), index=True)
    action: Mapped[str] = mapped_column(String(64), nullable=False)
    detail: Mapped[str] = mapped_column(Text, nullable=False, server_default="")
    created_at: Mapped[datetime] = now_timestamp()


class OutgoingEmail(OutgoingEmailColumns, Base):
    """An email the platform owes someone; the send task delivers it once (berth_common.mail)."""

    __tablename__ = "outgoing_emails"
    __table_args__ = (Index("ix_outgoing_emails_status", "status", "created_at"),)

    user_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    to_address: Mapped[str] = mapped_column(String(254), nullable=False)
    template: Mapped[str] = mapped_column(String(64), nullable=False)
