"""The template catalog as the API shows it, and what an admin may write into it."""

import re
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    model_validator,
)

from berth_deploy.enums import HealthCheckType, ProcessType, RolloutStrategy
from berth_deploy.validation import (
    Command,
    CpuMillis,
    DisplayName,
    EnvName,
    EnvValue,
    MemoryMb,
    PidsMax,
)

TEMPLATE_KEY = re.compile(r"^[a-z][a-z0-9-]{1,38}[a-z0-9]$")
PLAN_KEY = re.compile(r"^[a-z][a-z0-9-]{0,38}[a-z0-9]$")
RELATIVE_PATH = re.compile(r"^[A-Za-z0-9._-][A-Za-z0-9._/-]{0,199}$")


def _key(value: str) -> str:
    if not TEMPLATE_KEY.match(value):
        raise ValueError("lower-case letters, digits and hyphens (3-40)")
    return value


def _plan(value: str) -> str:
    if not PLAN_KEY.match(value):
        raise ValueError("lower-case letters, digits and hyphens")
    return value


def _relative(value: str) -> str:
    if not RELATIVE_PATH.match(value) or ".." in value.split("/"):
        raise ValueError("a relative path inside the repository")
    return value


TemplateKey = Annotated[str, AfterValidator(_key)]
PlanKey = Annotated[str, AfterValidator(_plan)]


class BuildStep(BaseModel):
    model_config = ConfigDict(extra="forbid")

    run: Command
    if_exists: Annotated[str, AfterValidator(_relative)] | None = None


class HealthSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    type: HealthCheckType = HealthCheckType.HTTP
    path: Annotated[str, StringConstraints(pattern=r"^/[A-Za-z0-9._~/%-]{0,199}$")] = "/"
    method: Literal["GET", "HEAD", "POST"] = "GET"
    json_body: Any = Field(None, alias="json")
    expect_json: bool = False
    timeout_seconds: int = Field(60, ge=1, le=600)
    stable_seconds: int = Field(3, ge=1, le=60)

    def stored(self) -> dict[str, Any]:
        return self.model_dump(by_alias=True, exclude_none=True)


class Template(BaseModel):
    key: str
    name: str
    description: str
    process_type: str
    build_steps: list[dict[str, Any]]
    run_command: str
    health: dict[str, Any]
    rollout: str
    needs_repo: bool
    default_memory_mb: int
    default_cpu_millis: int
    default_pids_max: int
    plan_key: str
    env: dict[str, str]
    is_active: bool
    updated_at: datetime

    model_config = ConfigDict(from_attributes=True)


class TemplateFields(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    name: DisplayName
    description: Annotated[str, StringConstraints(max_length=500)] = ""
    process_type: ProcessType
    build_steps: list[BuildStep] = Field(default_factory=list, max_length=20)
    run_command: Command
    health: HealthSpec
    rollout: RolloutStrategy
    needs_repo: bool = True
    default_memory_mb: MemoryMb
    default_cpu_millis: CpuMillis
    default_pids_max: PidsMax
    plan_key: PlanKey
    env: dict[EnvName, EnvValue] = Field(default_factory=dict, max_length=50)
    is_active: bool = True

    @model_validator(mode="after")
    def _worker_has_no_http_check(self) -> "TemplateFields":
        if self.process_type == ProcessType.WORKER and self.health.type != HealthCheckType.PROCESS:
            raise ValueError("a worker has no port: its health check is of type 'process'")
        return self

    def stored(self) -> dict[str, Any]:
        data = self.model_dump(exclude={"health", "build_steps"})
        data["health"] = self.health.stored()
        data["build_steps"] = [s.model_dump(exclude_none=True) for s in self.build_steps]
        return data


class TemplateCreate(TemplateFields):
    key: TemplateKey


class TemplateUpdate(TemplateFields):
    """A full replacement of a template's fields (its key stays)."""
