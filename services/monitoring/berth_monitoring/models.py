"""Monitoring's tables, all in the `monitoring` schema.

A monitor carries its own schedule (`next_check_at`), its hysteresis counters and its state,
so one batch query finds what is due and one UPDATE per batch records what happened. Results
are kept compactly: raw results briefly (daily partitions dropped whole, added by the checks'
migration), then per-hour and per-day rollups that uptime, charts and status-page bars read.
"""

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    Float,
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
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, UUID
from sqlalchemy.orm import Mapped, mapped_column

from berth_common.columns import now_timestamp, touched_timestamp, uuid_pk
from berth_common.db import make_base
from berth_common.mail import OutgoingEmailColumns
from berth_common.outbox import add_outbox_tables

SCHEMA = "monitoring"
Base = make_base(SCHEMA)
add_outbox_tables(Base.metadata)


class Monitor(Base):
    """One thing watched: a user's URL, host:port or heartbeat, or the platform's check of an
    app (kind app_http / app_process, `app_id` set, created and removed by deploy's events)."""

    __tablename__ = "monitors"
    __mapper_args__ = {"eager_defaults": True}
    __table_args__ = (
        Index("ix_monitors_owner_created", "owner_id", "created_at"),
        # the scheduler's one query: what is due, among monitors that are checked at all
        Index("ix_monitors_due", "next_check_at", postgresql_where=text("suppressed IS NULL")),
        # one platform monitor of each kind per app
        Index(
            "uq_monitors_app_kind",
            "app_id",
            "kind",
            unique=True,
            postgresql_where=text("app_id IS NOT NULL"),
        ),
        CheckConstraint("interval_seconds > 0", name="interval_positive"),
        CheckConstraint("failure_threshold > 0 AND success_threshold > 0", name="thresholds"),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    # a small number for compact result rows (raw results store it, not the UUID)
    seq: Mapped[int] = mapped_column(Integer, Identity(), nullable=False, unique=True)
    owner_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), nullable=False)
    name: Mapped[str] = mapped_column(String(120), nullable=False)
    kind: Mapped[str] = mapped_column(String(16), nullable=False)
    app_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))

    # what is checked: url (http, app_http: the health path), host + port (tcp)
    url: Mapped[str | None] = mapped_column(String(2000))
    host: Mapped[str | None] = mapped_column(String(253))
    port: Mapped[int | None] = mapped_column(Integer)
    # http conditions: {"method", "expected_status": [[200, 399]], "keyword", "keyword_absent",
    # "json_path", "json_expected", "cert_expiry_days", "headers"}
    http: Mapped[dict[str, Any]] = mapped_column(
        JSONB, nullable=False, server_default=text("'{}'::jsonb")
    )
    # heartbeat: sha256 of the push token (the token itself is shown once); quiet > interval +
    # grace is a failure
    heartbeat_token_hash: Mapped[str | None] = mapped_column(String(64), unique=True)
    grace_seconds: Mapped[int] = mapped_column(Integer, nullable=False, server_default="0")
    last_beat_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    interval_seconds: Mapped[int] = mapped_column(Integer, nullable=False)
    timeout_seconds: Mapped[float] = mapped_column(Float, nullable=False)
    failure_threshold: Mapped[int] = mapped_column(SmallInteger, nullable=False)
    success_threshold: Mapped[int] = mapped_column(SmallInteger, nullable=False)
    # while down, the alert is resent this often (0: once per transition only)
    resend_minutes: Mapped[int] = mapped_column(Integer, nullable=False, server_default="0")

    # the schedule: the next due moment keeps a per-monitor phase so equal intervals spread
    next_check_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    # not checked at all (Suppression) / checked but paging nobody until muted_until (MuteReason)
    suppressed: Mapped[str | None] = mapped_column(String(16))
    muted_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    mute_reason: Mapped[str | None] = mapped_column(String(16))

    # the state machine (MonitorState) and its counters
    state: Mapped[str] = mapped_column(String(16), nullable=False, server_default="unknown")
    state_changed_at: Mapped[datetime] = now_timestamp()
    consecutive_failures: Mapped[int] = mapped_column(Integer, nullable=False, server_default="0")
    consecutive_successes: Mapped[int] = mapped_column(Integer, nullable=False, server_default="0")
    # recent state changes (epoch seconds), for flap detection
    recent_transitions: Mapped[list[int]] = mapped_column(
        ARRAY(BigInteger), nullable=False, server_default=text("'{}'::bigint[]")
    )
    flapping: Mapped[bool] = mapped_column(Boolean, nullable=False, server_default="false")
    open_incident_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    last_alert_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    # the last result, for lists without a scan of results
    last_checked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_ok: Mapped[bool | None] = mapped_column(Boolean)
    last_latency_ms: Mapped[int | None] = mapped_column(Integer)
    last_error_kind: Mapped[str | None] = mapped_column(String(24))
    last_error: Mapped[str | None] = mapped_column(String(500))
    cert_expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    created_at: Mapped[datetime] = now_timestamp()
    updated_at: Mapped[datetime] = touched_timestamp()


class HourRollup(Base):
    """Checks of one monitor in one hour: uptime and latency charts over days read these."""

    __tablename__ = "rollup_hours"

    monitor_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("monitors.id", ondelete="CASCADE"), primary_key=True
    )
    bucket: Mapped[datetime] = mapped_column(DateTime(timezone=True), primary_key=True)
    checks: Mapped[int] = mapped_column(Integer, nullable=False)
    up_checks: Mapped[int] = mapped_column(Integer, nullable=False)
    latency_sum_ms: Mapped[int] = mapped_column(BigInteger, nullable=False)
    latency_max_ms: Mapped[int] = mapped_column(Integer, nullable=False)
    down_seconds: Mapped[int] = mapped_column(Integer, nullable=False, server_default="0")


class DayRollup(Base):
    """Checks of one monitor in one UTC day: 30-day uptime and 90-day status-page bars."""

    __tablename__ = "rollup_days"

    monitor_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("monitors.id", ondelete="CASCADE"), primary_key=True
    )
    bucket: Mapped[datetime] = mapped_column(DateTime(timezone=True), primary_key=True)
    checks: Mapped[int] = mapped_column(Integer, nullable=False)
    up_checks: Mapped[int] = mapped_column(Integer, nullable=False)
    latency_sum_ms: Mapped[int] = mapped_column(BigInteger, nullable=False)
    latency_max_ms: Mapped[int] = mapped_column(Integer, nullable=False)
    down_seconds: Mapped[int] = mapped_column(Integer, nullable=False, server_default="0")


class Incident(Base):
    """An outage: related monitors failing together (same app, or same host) are one incident."""

    __tablename__ = "incidents"
    __mapper_args__ = {"eager_defaults": True}
    __table_args__ = (
        Index("ix_incidents_owner_opened", "owner_id", "opened_at"),
        # one open incident per group at a time
        Index(
            "uq_incidents_open_group",
            "owner_id",
            "group_key",
            unique=True,
            postgresql_where=text("status = 'open'"),
        ),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    owner_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), nullable=False)
    # "app:<id>", "host:<name>" or "monitor:<id>": what related failures share
    group_key: Mapped[str] = mapped_column(String(300), nullable=False)
    title: Mapped[str] = mapped_column(String(300), nullable=False)
    status: Mapped[str] = mapped_column(String(16), nullable=False, server_default="open")
    cause: Mapped[str | None] = mapped_column(String(500))
    opened_at: Mapped[datetime] = now_timestamp()
    resolved_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class IncidentMonitor(Base):
    __tablename__ = "incident_monitors"

    incident_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("incidents.id", ondelete="CASCADE"), primary_key=True
    )
    monitor_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("monitors.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    down_at: Mapped[datetime] = now_timestamp()
    up_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class IncidentEvent(Base):
    """The incident's timeline: opened, each monitor down and up, alerts, resolved."""

    __tablename__ = "incident_events"
    __table_args__ = (Index("ix_incident_events_incident_at", "incident_id", "at"),)

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    incident_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("incidents.id", ondelete="CASCADE"), nullable=False
    )
    at: Mapped[datetime] = now_timestamp()
    kind: Mapped[str] = mapped_column(String(24), nullable=False)
    monitor_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    detail: Mapped[str | None] = mapped_column(String(500))


class AlertChannel(Base):
    """Where a user's alerts go: an email address, a signed webhook, or a Telegram chat."""

    __tablename__ = "alert_channels"
    __mapper_args__ = {"eager_defaults": True}
    __table_args__ = (Index("ix_alert_channels_owner", "owner_id", "created_at"),)

    id: Mapped[uuid.UUID] = uuid_pk()
    owner_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), nullable=False)
    kind: Mapped[str] = mapped_column(String(16), nullable=False)
    name: Mapped[str] = mapped_column(String(80), nullable=False)
    # email address / webhook URL / Telegram chat id
    target: Mapped[str] = mapped_column(String(2000), nullable=False)
    # the webhook's signing secret or the Telegram bot token, encrypted at rest
    secret_encrypted: Mapped[str | None] = mapped_column(Text)
    is_enabled: Mapped[bool] = mapped_column(Boolean, nullable=False, server_default="true")
    last_test_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = now_timestamp()
    updated_at: Mapped[datetime] = touched_timestamp()


class MonitorChannel(Base):
    """Which channels a monitor alerts."""

    __tablename__ = "monitor_channels"

    monitor_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("monitors.id", ondelete="CASCADE"), primary_key=True
    )
    channel_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("alert_channels.id", ondelete="CASCADE"), primary_key=True, index=True
    )


class Notification(Base):
    """One alert owed to one channel. Producers insert it in the transaction of the change that
    owes it and enqueue `Task.DELIVER_NOTIFICATION` through the outbox; `dedupe_key` is unique,
    so a transition, a reminder slot or a queue breach episode alerts each channel once."""

    __tablename__ = "notifications"
    __mapper_args__ = {"eager_defaults": True}
    __table_args__ = (
        Index("ix_notifications_owner_created", "owner_id", "created_at"),
        Index(
            "ix_notifications_pending", "created_at", postgresql_where=text("status = 'pending'")
        ),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    owner_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), nullable=False)
    channel_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("alert_channels.id", ondelete="CASCADE"), nullable=False, index=True
    )
    subject_kind: Mapped[str] = mapped_column(String(16), nullable=False)
    subject_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    incident_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    event: Mapped[str] = mapped_column(String(24), nullable=False)
    dedupe_key: Mapped[str] = mapped_column(String(300), nullable=False, unique=True)
    payload: Mapped[dict[str, Any]] = mapped_column(JSONB, nullable=False)
    status: Mapped[str] = mapped_column(String(16), nullable=False, server_default="pending")
    attempts: Mapped[int] = mapped_column(Integer, nullable=False, server_default="0")
    last_error: Mapped[str | None] = mapped_column(String(500))
    created_at: Mapped[datetime] = now_timestamp()
    sent_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class MaintenanceWindow(Base):
    """A planned period in which a user's monitors (all, or the listed ones) page nobody."""

    __tablename__ = "maintenance_windows"
    __mapper_args__ = {"eager_defaults": True}
    __table_args__ = (
        Index("ix_maintenance_owner_ends", "owner_id", "ends_at"),
        CheckConstraint("ends_at > starts_at", name="ends_after_start"),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    owner_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), nullable=False)
    name: Mapped[str] = mapped_column(String(120), nullable=False)
    starts_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    ends_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    # null: every monitor of the owner
    monitor_ids: Mapped[list[uuid.UUID] | None] = mapped_column(ARRAY(UUID(as_uuid=True)))
    created_at: Mapped[datetime] = now_timestamp()


class StatusPage(Base):
    """A public page of chosen monitors at /status/<slug>."""

    __tablename__ = "status_pages"
    __mapper_args__ = {"eager_defaults": True}
    __table_args__ = (Index("ix_status_pages_owner", "owner_id", "created_at"),)

    id: Mapped[uuid.UUID] = uuid_pk()
    owner_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), nullable=False)
    slug: Mapped[str] = mapped_column(String(60), nullable=False, unique=True)
    title: Mapped[str] = mapped_column(String(120), nullable=False)
    description: Mapped[str] = mapped_column(String(1000), nullable=False, server_default="")
    is_published: Mapped[bool] = mapped_column(Boolean, nullable=False, server_default="true")
    created_at: Mapped[datetime] = now_timestamp()
    updated_at: Mapped[datetime] = touched_timestamp()


class StatusPageMonitor(Base):
    __tablename__ = "status_page_monitors"
    __table_args__ = (UniqueConstraint("page_id", "position", name="uq_status_page_position"),)

    page_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("status_pages.id", ondelete="CASCADE"), primary_key=True
    )
    monitor_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("monitors.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    position: Mapped[int] = mapped_column(Integer, nullable=False)
    # the name shown to the public (a monitor's own name may say more than its owner wants)
    display_name: Mapped[str] = mapped_column(String(120), nullable=False)


class OutgoingEmail(OutgoingEmailColumns, Base):
    """An email channel's alert, sent by berth_common.mail's task (one per notification)."""

    __tablename__ = "outgoing_emails"
    __table_args__ = (Index("ix_outgoing_emails_pending", "status", "created_at"),)

    to_address: Mapped[str] = mapped_column(String(254), nullable=False)
    template: Mapped[str] = mapped_column(String(40), nullable=False)
    notification_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("notifications.id", ondelete="SET NULL"), unique=True
    )


# the check results', the platform's app monitors' and the queue pages' tables live in their
# sub-packages, on this Base (one metadata, one history)
from berth_monitoring.platform import models as _platform_models  # noqa: E402, F401
from berth_monitoring.queues import models as _queue_models  # noqa: E402, F401
from berth_monitoring.results import models as _results_models  # noqa: E402, F401
