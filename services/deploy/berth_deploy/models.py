"""Deploy's tables, all in the `deploy` schema. `eager_defaults`: server-set columns
(created_at, updated_at, ...) come back with the INSERT/UPDATE."""

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    DateTime,
    ForeignKey,
    Identity,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.orm import Mapped, mapped_column

from berth_common.columns import now_timestamp, touched_timestamp, uuid_pk
from berth_common.db import make_base
from berth_common.outbox import add_outbox_tables

SCHEMA = "deploy"
Base = make_base(SCHEMA)
add_outbox_tables(Base.metadata)


class Template(Base):
    """A catalog entry: how apps of this kind are built, run, checked, limited and billed."""

    __tablename__ = "templates"
    __mapper_args__ = {"eager_defaults": True}

    key: Mapped[str] = mapped_column(String(40), primary_key=True)
    name: Mapped[str] = mapped_column(String(80), nullable=False)
    description: Mapped[str] = mapped_column(String(500), nullable=False, server_default="")
    # web: listens on $PORT and gets a route; worker: no port, no route
    process_type: Mapped[str] = mapped_column(String(16), nullable=False)
    # [{"run": "shell command", "if_exists": "requirements.txt"}], run in the sandbox in order
    build_steps: Mapped[list[dict[str, Any]]] = mapped_column(
        JSONB, nullable=False, server_default=text("'[]'::jsonb")
    )
    run_command: Mapped[str] = mapped_column(Text, nullable=False)
    # {"type": "http"|"process", "path", "method", "json", "timeout_seconds", "stable_seconds"}
    health: Mapped[dict[str, Any]] = mapped_column(JSONB, nullable=False)
    # zero_downtime: new instance first, then the old one stops; recreate: stop, then start
    rollout: Mapped[str] = mapped_column(String(16), nullable=False)
    # false: nothing is cloned (n8n installs from the npm registry in its build steps)
    needs_repo: Mapped[bool] = mapped_column(Boolean, nullable=False, server_default="true")
    default_memory_mb: Mapped[int] = mapped_column(Integer, nullable=False)
    default_cpu_millis: Mapped[int] = mapped_column(Integer, nullable=False)
    default_pids_max: Mapped[int] = mapped_column(Integer, nullable=False)
    plan_key: Mapped[str] = mapped_column(String(40), nullable=False)
    # environment defaults of the template (the app's own variables override them)
    env: Mapped[dict[str, str]] = mapped_column(
        JSONB, nullable=False, server_default=text("'{}'::jsonb")
    )
    is_active: Mapped[bool] = mapped_column(Boolean, nullable=False, server_default="true")
    created_at: Mapped[datetime] = now_timestamp()
    updated_at: Mapped[datetime] = touched_timestamp()


class App(Base):
    __tablename__ = "apps"
    __mapper_args__ = {"eager_defaults": True}
    __table_args__ = (
        # a slug is a host name: unique among apps that are not deleted
        Index(
            "uq_apps_slug_live", "slug", unique=True, postgresql_where=text("status <> 'deleted'")
        ),
        Index("ix_apps_owner_created", "owner_id", "created_at"),
        # a deleted app's slug is held for its owner a while (DEPLOY_SLUG_HOLD_DAYS)
        Index(
            "ix_apps_slug_deleted",
            "slug",
            "deleted_at",
            postgresql_where=text("status = 'deleted'"),
        ),
        Index(
            "ix_apps_poll_due",
            "polled_at",
            postgresql_where=text("poll_interval_seconds IS NOT NULL"),
        ),
        # one live preview per branch of an app
        Index(
            "uq_apps_preview_branch_live",
            "parent_app_id",
            "preview_branch",
            unique=True,
            postgresql_where=text("parent_app_id IS NOT NULL AND status <> 'deleted'"),
        ),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    owner_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), nullable=False)
    # 63: a preview app's slug is `<slug>--<branch>` (one DNS label)
    slug: Mapped[str] = mapped_column(String(63), nullable=False)
    name: Mapped[str] = mapped_column(String(80), nullable=False)
    template_key: Mapped[str] = mapped_column(ForeignKey("templates.key"), nullable=False)
    repo_url: Mapped[str | None] = mapped_column(String(500))
    branch: Mapped[str] = mapped_column(String(100), nullable=False)
    build_command: Mapped[str | None] = mapped_column(Text)
    run_command: Mapped[str | None] = mapped_column(Text)
    memory_mb: Mapped[int] = mapped_column(Integer, nullable=False)
    cpu_millis: Mapped[int] = mapped_column(Integer, nullable=False)
    pids_max: Mapped[int] = mapped_column(Integer, nullable=False)
    status: Mapped[str] = mapped_column(String(16), nullable=False, server_default="created")
    status_reason: Mapped[str | None] = mapped_column(String(500))
    # the OperationOrigin of the suspend while suspended: billing's unsuspend resumes only its own
    suspended_by: Mapped[str | None] = mapped_column(String(16))
    current_release_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    # the node the app is placed on: its operations run from that node's queue (nodes/)
    node: Mapped[str | None] = mapped_column(String(200))
    # the operation holding the app (one at a time); the next queued one runs after it
    active_operation_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    # the unprivileged uid the app's processes run as (uid_base + run_uid)
    run_uid: Mapped[int] = mapped_column(BigInteger, Identity(start=1), nullable=False, unique=True)
    # automatic deploys: a push, a forge webhook or a poll of the tracked branch deploys it
    auto_deploy: Mapped[bool] = mapped_column(Boolean, nullable=False, server_default="true")
    # may a `git push` to Berth rewrite a branch's history
    allow_force_push: Mapped[bool] = mapped_column(Boolean, nullable=False, server_default="false")
    # poll repo_url's branch this often (null: never); when it was last polled
    poll_interval_seconds: Mapped[int | None] = mapped_column(Integer)
    polled_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # what the last poll found: the branch's commit, or why it could not tell (for the owner)
    polled_commit_sha: Mapped[str | None] = mapped_column(String(64))
    poll_error: Mapped[str | None] = mapped_column(String(200))
    # the forge webhooks' signing secret (Fernet, the env key); shown once when made
    webhook_secret_encrypted: Mapped[bytes | None] = mapped_column(LargeBinary)
    webhook_secret_set_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # branches and pull requests get preview apps; a preview idle this long is deleted
    previews_enabled: Mapped[bool] = mapped_column(Boolean, nullable=False, server_default="false")
    preview_idle_days: Mapped[int] = mapped_column(Integer, nullable=False, server_default="7")
    # a preview app: the app it previews and the branch it is built from
    parent_app_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("apps.id", ondelete="CASCADE")
    )
    preview_branch: Mapped[str | None] = mapped_column(String(255))
    # a container app: its image reference (resolved to a digest at each deploy), the port it
    # listens on inside (null: the image's first EXPOSEd port, else $PORT), and the registry
    # login (the password Fernet-encrypted like secret env vars; write-only)
    image: Mapped[str | None] = mapped_column(String(600))
    container_port: Mapped[int | None] = mapped_column(Integer)
    registry_username: Mapped[str | None] = mapped_column(String(200))
    registry_password_encrypted: Mapped[bytes | None] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = now_timestamp()
    updated_at: Mapped[datetime] = touched_timestamp()
    status_changed_at: Mapped[datetime] = now_timestamp()
    deleted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class EnvVar(Base):
    __tablename__ = "env_vars"
    __mapper_args__ = {"eager_defaults": True}

    app_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("apps.id", ondelete="CASCADE"), primary_key=True
    )
    name: Mapped[str] = mapped_column(String(128), primary_key=True)
    value_encrypted: Mapped[bytes] = mapped_column(LargeBinary, nullable=False)
    is_secret: Mapped[bool] = mapped_column(Boolean, nullable=False, server_default="false")
    created_at: Mapped[datetime] = now_timestamp()
    updated_at: Mapped[datetime] = touched_timestamp()


class Release(Base):
    """One build of one commit; rollback re-activates an earlier ready release."""

    __tablename__ = "releases"
    __mapper_args__ = {"eager_defaults": True}
    __table_args__ = (UniqueConstraint("app_id", "number"),)

    id: Mapped[uuid.UUID] = uuid_pk()
    app_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("apps.id", ondelete="CASCADE"), nullable=False
    )
    number: Mapped[int] = mapped_column(Integer, nullable=False)
    commit_sha: Mapped[str | None] = mapped_column(String(64))
    # a container release: the manifest digest it runs (sha256:...), whatever its tag says now
    image_digest: Mapped[str | None] = mapped_column(String(80))
    branch: Mapped[str] = mapped_column(String(100), nullable=False)
    # building | ready | failed | cancelled | pruned
    status: Mapped[str] = mapped_column(String(16), nullable=False, server_default="building")
    error: Mapped[str | None] = mapped_column(String(1000))
    created_by: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), nullable=False)
    created_at: Mapped[datetime] = now_timestamp()
    built_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class Operation(Base):
    """Async work on an app (deploy, rollback, start, stop, ...), one at a time per app.

    A running operation holds a lease that its worker renews; an expired lease means the
    worker died, and the reaper retries or fails the operation with a reason.
    """

    __tablename__ = "operations"
    __mapper_args__ = {"eager_defaults": True}
    __table_args__ = (
        Index("ix_operations_app_created", "app_id", "created_at"),
        Index(
            "ix_operations_lease",
            "lease_expires_at",
            postgresql_where=text("status = 'running'"),
        ),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    app_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("apps.id", ondelete="CASCADE"), nullable=False
    )
    # an OperationKind
    kind: Mapped[str] = mapped_column(String(16), nullable=False)
    # queued | running | succeeded | failed | cancelled | superseded
    status: Mapped[str] = mapped_column(String(16), nullable=False, server_default="queued")
    # an OperationStep once the operation runs
    step: Mapped[str | None] = mapped_column(String(16))
    reason: Mapped[str | None] = mapped_column(String(1000))
    release_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    requested_by: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    # who asked (an OperationOrigin), for the state the app lands in
    origin: Mapped[str] = mapped_column(String(16), nullable=False, server_default="user")
    attempt: Mapped[int] = mapped_column(Integer, nullable=False, server_default="0")
    lease_owner: Mapped[str | None] = mapped_column(String(200))
    lease_node: Mapped[str | None] = mapped_column(String(200))
    lease_expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    heartbeat_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # the process group of the current build step, so a reaper can kill what a dead worker left
    step_pgid: Mapped[int | None] = mapped_column(Integer)
    cancel_requested_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # why it was asked to stop: by its requester, or because the app is deleted or suspended
    cancel_reason: Mapped[str | None] = mapped_column(String(200))
    # the app's status when the operation was requested (a cancelled deploy goes back to it)
    app_status_before: Mapped[str | None] = mapped_column(String(16))
    # what started it (an OperationTrigger) and, for a deploy, the commit it builds (null: the
    # branch's newest), fetched from a SourceKind; the commit's author is a name, never an email
    trigger: Mapped[str] = mapped_column(String(16), nullable=False, server_default="manual")
    source: Mapped[str] = mapped_column(String(16), nullable=False, server_default="repo")
    commit_sha: Mapped[str | None] = mapped_column(String(64))
    commit_author: Mapped[str | None] = mapped_column(String(200))
    commit_message: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = now_timestamp()
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class Instance(Base):
    """One running release process of an app on a node (billing charges its interval)."""

    __tablename__ = "instances"
    __mapper_args__ = {"eager_defaults": True}
    __table_args__ = (
        Index("ix_instances_app", "app_id", "created_at"),
        # a port serves one live instance per node
        Index(
            "uq_instances_node_port_live",
            "node",
            "port",
            unique=True,
            postgresql_where=text(
                "port IS NOT NULL AND status IN ('starting', 'running', 'crashed', 'stopping')"
            ),
        ),
        # the liveness poll walks the instances that should be up, by id
        Index(
            "ix_instances_serving", "id", postgresql_where=text("status IN ('running', 'crashed')")
        ),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    app_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("apps.id", ondelete="CASCADE"), nullable=False
    )
    release_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("releases.id"), nullable=False)
    # the operation that started it (a retried operation cleans up what its last try left)
    operation_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    # starting | running | crashed | stopping | stopped | failed
    status: Mapped[str] = mapped_column(String(16), nullable=False, server_default="starting")
    node: Mapped[str] = mapped_column(String(200), nullable=False)
    port: Mapped[int | None] = mapped_column(Integer)
    plan_key: Mapped[str] = mapped_column(String(40), nullable=False)
    pid: Mapped[int | None] = mapped_column(Integer)
    monitor_pid: Mapped[int | None] = mapped_column(Integer)
    # /proc/<pid>/stat start time: a recycled pid is never mistaken for the app
    proc_start: Mapped[int | None] = mapped_column(BigInteger)
    restart_count: Mapped[int] = mapped_column(Integer, nullable=False, server_default="0")
    crash_times: Mapped[list[str]] = mapped_column(
        JSONB, nullable=False, server_default=text("'[]'::jsonb")
    )
    last_exit_code: Mapped[int | None] = mapped_column(Integer)
    # how the process last ended, as the supervisor saw it ("killed by signal 9", out of memory)
    last_exit: Mapped[str | None] = mapped_column(String(200))
    # when the supervisor last saw the process exit or come back (null: up since started_at)
    alive_changed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    next_restart_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    routed: Mapped[bool] = mapped_column(Boolean, nullable=False, server_default="false")
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    stopped_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    stop_reason: Mapped[str | None] = mapped_column(String(500))
    created_at: Mapped[datetime] = now_timestamp()


class SupervisorBeat(Base):
    """The last tick of each node's active supervisor: what it says about the node's processes
    is current only while this is recent (a silent supervisor watches nothing)."""

    __tablename__ = "supervisor_beats"

    node: Mapped[str] = mapped_column(String(200), primary_key=True)
    beat_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)


class LogStream(Base):
    """A live log stream someone holds open (SSE); at most DEPLOY_LOG_STREAMS_PER_USER each.

    The web process serving it renews `expires_at` while it streams and deletes the row when
    it ends; a row whose process died expires and stops counting.
    """

    __tablename__ = "log_streams"
    __mapper_args__ = {"eager_defaults": True}
    __table_args__ = (
        Index("ix_log_streams_viewer", "viewer", "expires_at"),
        Index("ix_log_streams_expires", "expires_at"),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    # the token's subject: a person's id, or a machine client's id
    viewer: Mapped[str] = mapped_column(String(200), nullable=False)
    app_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("apps.id", ondelete="CASCADE"), nullable=False
    )
    started_at: Mapped[datetime] = now_timestamp()
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)


class OwnerStanding(Base):
    """Billing's last word on an owner: suspended owners' apps may not start.

    Events can arrive out of order; the one with the later event time wins.
    """

    __tablename__ = "owner_standings"
    __mapper_args__ = {"eager_defaults": True}

    owner_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    suspended: Mapped[bool] = mapped_column(Boolean, nullable=False)
    reason: Mapped[str | None] = mapped_column(String(500))
    changed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    updated_at: Mapped[datetime] = touched_timestamp()


# the node, route, VPS, console, push-token and webhook tables live in this schema too
# (registered on Base by their modules)
from berth_deploy.gitpush import models as gitpush_models  # noqa: E402, F401
from berth_deploy.nodes import models as node_models  # noqa: E402, F401
from berth_deploy.vps import models as vps_models  # noqa: E402, F401
from berth_deploy.vps.console import models as console_models  # noqa: E402, F401
from berth_deploy.webhooks import models as webhook_models  # noqa: E402, F401
