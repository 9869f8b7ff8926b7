"""The VPS API's shapes."""

import uuid
from datetime import datetime
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints

from berth_common.pagination import Page
from berth_deploy.validation import DisplayName
from berth_deploy.vps.validation import ssh_public_key, vps_name

VpsName = Annotated[str, StringConstraints(min_length=3, max_length=40), AfterValidator(vps_name)]
SshPublicKey = Annotated[str, StringConstraints(min_length=1), AfterValidator(ssh_public_key)]


class Plan(BaseModel):
    key: str
    name: str
    vcpus: int
    memory_mb: int
    disk_gb: int
    max_vcpus: int
    max_memory_mb: int
    max_disk_gb: int
    billing_plan_key: str
    # billing's price of the current hour (minor units), when billing answered
    amount_per_hour: int | None = None
    currency: str | None = None


class VpsCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: VpsName
    plan: str = Field(..., min_length=1, max_length=40, pattern=r"^[a-z0-9-]+$")
    ssh_public_key: SshPublicKey


class StopRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    hard: bool = Field(False, description="power off at once instead of a guest shutdown")


class ResizeRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    vcpus: int | None = Field(None, ge=1, le=64)
    memory_mb: int | None = Field(None, ge=256, le=262_144)
    disk_gb: int | None = Field(None, ge=1, le=4096)


class SnapshotCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: DisplayName | None = None


class SuspensionCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: DisplayName | None = None


class Ssh(BaseModel):
    host: str
    port: int | None
    user: str = "root"
    command: str | None


class Vps(BaseModel):
    id: uuid.UUID
    owner_id: uuid.UUID
    name: str
    hostname: str
    plan: str
    kind: str
    image: str
    status: str
    status_reason: str | None
    suspended_by: str | None
    vcpus: int
    memory_mb: int
    disk_gb: int
    ssh: Ssh
    active_operation_id: uuid.UUID | None
    created_at: datetime
    updated_at: datetime


class AdminVps(Vps):
    node: str
    run_uid: int
    # from the machine driver on this node: cpu_seconds, memory_bytes, disk_bytes (null when
    # the machine is not on the node answering, or is not running)
    usage: dict[str, Any] | None


class VpsOperation(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    vps_id: uuid.UUID
    kind: str
    status: str
    step: str | None
    reason: str | None
    params: dict[str, Any]
    origin: str
    attempt: int
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None


class VpsCreated(BaseModel):
    vps: Vps
    operation: VpsOperation


class Snapshot(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    vps_id: uuid.UUID
    name: str
    status: str
    size_bytes: int | None
    error: str | None
    created_at: datetime
    ready_at: datetime | None


class SnapshotCreated(BaseModel):
    snapshot: Snapshot
    operation: VpsOperation


class VpsPage(Page[Vps]):
    pass


class AdminVpsPage(Page[AdminVps]):
    pass


class VpsOperationPage(Page[VpsOperation]):
    pass


class VpsLiveness(BaseModel):
    vps_id: uuid.UUID
    owner_id: uuid.UUID
    node: str
    # the machine driver's word ("running" | "paused" | "stopped" | "crashed"), or "unknown"
    # when this process cannot ask it (another node's machine, no driver)
    state: str
    alive: bool


class VpsLivenessList(BaseModel):
    items: list[VpsLiveness]
