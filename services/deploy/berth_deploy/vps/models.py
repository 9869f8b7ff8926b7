"""The VPS tables, in deploy's schema (registered on deploy's Base by models.py).

`vps.id`, `owner_id`, `status` and `suspended_by` are read by the console too: keep the names.
"""

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.orm import Mapped, mapped_column

from berth_common.columns import now_timestamp, touched_timestamp, uuid_pk
from berth_deploy.models import Base

# A VPS's run uid comes from the apps' own sequence: apps and VPSes are tenants of one uid
# space (uid_base + run_uid), so no two of them ever share a host uid. The container fallback
# takes indexes under ~50,000 (vps/machine/container_base.py maps 65536 uids per VPS) and
# refuses a VPS past that with a clear error.
RUN_UID_SEQUENCE = "deploy.apps_run_uid_seq"


class Vps(Base):
    __tablename__ = "vps"
    __mapper_args__ = {"eager_defaults": True}
    __table_args__ = (
        # a name is the machine's hostname: unique among one owner's live VPSes
        Index(
            "uq_vps_owner_name_live",
            "owner_id",
            "name",
            unique=True,
            postgresql_where=text("status <> 'deleted'"),
        ),
        Index("ix_vps_owner_created", "owner_id", "created_at"),
        # a node's SSH port forwards to one live VPS
        Index(
            "uq_vps_node_ssh_port_live",
            "node",
            "ssh_port",
            unique=True,
            postgresql_where=text("ssh_port IS NOT NULL AND status <> 'deleted'"),
        ),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    owner_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), nullable=False)
    name: Mapped[str] = mapped_column(String(40), nullable=False)
    # the catalog's plan (vps-1, ...) and billing's plan key it is charged on
    plan: Mapped[str] = mapped_column(String(40), nullable=False)
    billing_plan_key: Mapped[str] = mapped_column(String(40), nullable=False)
    # "kvm" or "container" (the driver's kind where it was made)
    kind: Mapped[str] = mapped_column(String(16), nullable=False)
    image: Mapped[str] = mapped_column(String(40), nullable=False, server_default="debian-12")
    status: Mapped[str] = mapped_column(String(16), nullable=False, server_default="creating")
    status_reason: Mapped[str | None] = mapped_column(String(500))
    # the OperationOrigin of the suspend while suspended: billing's unsuspend resumes only its own
    suspended_by: Mapped[str | None] = mapped_column(String(16))
    vcpus: Mapped[int] = mapped_column(Integer, nullable=False)
    memory_mb: Mapped[int] = mapped_column(Integer, nullable=False)
    disk_gb: Mapped[int] = mapped_column(Integer, nullable=False)
    ssh_public_key: Mapped[str] = mapped_column(Text, nullable=False)
    node: Mapped[str] = mapped_column(String(200), nullable=False)
    ssh_port: Mapped[int | None] = mapped_column(Integer)
    run_uid: Mapped[int] = mapped_column(
        BigInteger,
        server_default=text(f"nextval('{RUN_UID_SEQUENCE}'::regclass)"),
        nullable=False,
        unique=True,
    )
    # the operation holding the VPS (one at a time)
    active_operation_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    # the billed interval of the current boot: the instance id billing charges by, and since when
    boot_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    boot_started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # the machine's state as its node's supervisor last saw it, and when (database clock):
    # what liveness answers for a VPS on another node than the web process's
    observed_state: Mapped[str | None] = mapped_column(String(16))
    observed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # its resource use then (cpu_seconds, memory_bytes, disk_bytes): admins' view of a VPS on
    # another node than the web process's
    observed_usage: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    created_at: Mapped[datetime] = now_timestamp()
    updated_at: Mapped[datetime] = touched_timestamp()
    status_changed_at: Mapped[datetime] = now_timestamp()
    deleted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class VpsOperation(Base):
    """Async work on a VPS, one at a time; leased like app operations (operations/leases.py):
    a worker renews its lease, an expired one is reaped and retried or failed with a reason."""

    __tablename__ = "vps_operations"
    __mapper_args__ = {"eager_defaults": True}
    __table_args__ = (
        Index("ix_vps_operations_vps_created", "vps_id", "created_at"),
        Index(
            "ix_vps_operations_lease",
            "lease_expires_at",
            postgresql_where=text("status = 'running'"),
        ),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    vps_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("vps.id", ondelete="CASCADE"), nullable=False
    )
    kind: Mapped[str] = mapped_column(String(16), nullable=False)
    # queued | running | succeeded | failed | cancelled | superseded
    status: Mapped[str] = mapped_column(String(16), nullable=False, server_default="queued")
    step: Mapped[str | None] = mapped_column(String(32))
    reason: Mapped[str | None] = mapped_column(String(1000))
    # what it needs: {"hard": bool} for stop, the new sizes for resize, the snapshot id
    params: Mapped[dict[str, Any]] = mapped_column(
        JSONB, nullable=False, server_default=text("'{}'::jsonb")
    )
    requested_by: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    origin: Mapped[str] = mapped_column(String(16), nullable=False, server_default="user")
    vps_status_before: Mapped[str | None] = mapped_column(String(16))
    attempt: Mapped[int] = mapped_column(Integer, nullable=False, server_default="0")
    lease_owner: Mapped[str | None] = mapped_column(String(200))
    lease_node: Mapped[str | None] = mapped_column(String(200))
    lease_expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    heartbeat_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = now_timestamp()
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class VpsSnapshot(Base):
    __tablename__ = "vps_snapshots"
    __mapper_args__ = {"eager_defaults": True}
    __table_args__ = (Index("ix_vps_snapshots_vps_created", "vps_id", "created_at"),)

    id: Mapped[uuid.UUID] = uuid_pk()
    vps_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("vps.id", ondelete="CASCADE"), nullable=False
    )
    name: Mapped[str] = mapped_column(String(80), nullable=False)
    # a SnapshotStatus
    status: Mapped[str] = mapped_column(String(16), nullable=False, server_default="creating")
    size_bytes: Mapped[int | None] = mapped_column(BigInteger)
    error: Mapped[str | None] = mapped_column(String(500))
    created_at: Mapped[datetime] = now_timestamp()
    ready_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    @property
    def machine_name(self) -> str:
        """The driver's name of it (no user text reaches the driver)."""
        return f"s-{self.id.hex}"
