import uuid
from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from berth_common.pagination import Page
from berth_deploy.env.schemas import EnvVarCreate
from berth_deploy.validation import (
    Branch,
    Command,
    CpuMillis,
    DisplayName,
    MemoryMb,
    PidsMax,
    PollInterval,
    PreviewIdleDays,
    RepoUrl,
    Slug,
)

NO_CONTROL = r"^[^\x00-\x1f\x7f]*$"
ImageField = Annotated[
    str | None,
    Field(
        None,
        min_length=1,
        max_length=500,
        description="A container app's OCI image: registry/repository[:tag][@sha256:...], on a "
        "registry the platform allows",
    ),
]
ContainerPort = Annotated[
    int | None,
    Field(None, ge=1, le=65535, description="Where the container listens (default: EXPOSE)"),
]
RegistryUsername = Annotated[
    str | None, Field(None, max_length=200, pattern=r"^[^\x00-\x1f\x7f:]*$")
]
RegistryPassword = Annotated[
    str | None,
    Field(
        None,
        max_length=4000,
        pattern=NO_CONTROL,
        description="Write-only: stored encrypted, never shown again (empty: remove the login)",
    ),
]


class LimitsCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    memory_mb: MemoryMb | None = None
    cpu_millis: CpuMillis | None = None
    pids_max: PidsMax | None = None


class Limits(BaseModel):
    memory_mb: int
    cpu_millis: int
    pids_max: int


class AppCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    slug: Slug
    name: DisplayName | None = None
    template: str = Field(min_length=1, max_length=40)
    repo_url: RepoUrl | None = None
    branch: Branch = "main"
    build_command: Command | None = None
    run_command: Command | None = None
    limits: LimitsCreate = Field(default_factory=LimitsCreate)
    env: list[EnvVarCreate] = Field(default_factory=list, max_length=200)
    image: ImageField = None
    container_port: ContainerPort = None
    registry_username: RegistryUsername = None
    registry_password: RegistryPassword = None


class AppUpdate(BaseModel):
    """Changes apply at the next deploy, restart or start."""

    model_config = ConfigDict(extra="forbid")

    name: DisplayName | None = None
    repo_url: RepoUrl | None = None
    branch: Branch | None = None
    build_command: Command | None = None
    run_command: Command | None = None
    limits: LimitsCreate | None = None
    # automatic deploys (a null poll interval switches polling off)
    auto_deploy: bool | None = None
    allow_force_push: bool | None = None
    poll_interval_seconds: PollInterval | None = Field(
        None, description="Poll the repository's branch this often (60 s to 1 day); null: never"
    )
    previews_enabled: bool | None = None
    preview_idle_days: PreviewIdleDays | None = None
    image: ImageField = None
    container_port: ContainerPort = None
    registry_username: RegistryUsername = None
    registry_password: RegistryPassword = None


class ReleaseRef(BaseModel):
    id: uuid.UUID
    number: int
    commit_sha: str | None
    image_digest: str | None = Field(None, description="The image digest a container runs")


class Instance(BaseModel):
    id: uuid.UUID
    release_id: uuid.UUID
    status: str
    node: str | None = Field(None, description="The node it runs on")
    port: int | None
    restart_count: int
    last_exit_code: int | None
    started_at: datetime | None
    stopped_at: datetime | None
    stop_reason: str | None
    memory_bytes: int | None = Field(
        None, description="Memory in use now (its cgroup), when measured on its node"
    )
    processes: int | None = Field(None, description="Processes in its cgroup now")

    model_config = ConfigDict(from_attributes=True)


class App(BaseModel):
    id: uuid.UUID
    owner_id: uuid.UUID
    slug: str
    name: str
    template: str
    repo_url: str | None
    branch: str
    build_command: str | None
    run_command: str | None
    limits: Limits
    status: str
    status_reason: str | None
    suspended_by: str | None
    url: str | None = Field(description="Where the app answers (web apps)")
    current_release: ReleaseRef | None
    active_operation_id: uuid.UUID | None
    # a preview app: the app it previews and the branch it is built from
    parent_app_id: uuid.UUID | None = None
    preview_branch: str | None = None
    auto_deploy: bool
    allow_force_push: bool
    poll_interval_seconds: int | None
    polled_at: datetime | None
    poll_error: str | None = Field(description="Why the last poll of the repository failed")
    previews_enabled: bool
    preview_idle_days: int
    webhook_secret_set_at: datetime | None = Field(
        description="When the forge webhooks' signing secret was made (null: none)"
    )
    image: str | None = Field(None, description="A container app's image reference")
    container_port: int | None = None
    registry_username: str | None = None
    registry_password_set: bool = Field(False, description="A registry password is stored")
    created_at: datetime
    updated_at: datetime
    status_changed_at: datetime


class AppDetail(App):
    instances: list[Instance]


class AppPage(Page[App]):
    pass
