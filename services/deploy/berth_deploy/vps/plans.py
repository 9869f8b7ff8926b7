"""The VPS plan catalog: what each plan gives (vCPUs, memory, disk) and the billing plan it is
charged on. DEPLOY_VPS_PLANS (a JSON list of the same shape) replaces the default catalog;
billing holds the prices (its plan list, under each plan's `billing_plan_key`)."""

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from berth_common.errors import Unprocessable
from berth_deploy.config import DeploySettings


class VpsPlan(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    key: str = Field(..., pattern=r"^[a-z0-9][a-z0-9-]{0,38}[a-z0-9]$")
    name: str = Field(..., min_length=1, max_length=80)
    vcpus: int = Field(..., ge=1, le=64)
    memory_mb: int = Field(..., ge=256, le=262_144)
    disk_gb: int = Field(..., ge=2, le=4096)
    # resize within the plan: up to these (disk only grows)
    max_vcpus: int | None = Field(None, ge=1, le=64)
    max_memory_mb: int | None = Field(None, ge=256, le=262_144)
    max_disk_gb: int | None = Field(None, ge=2, le=4096)
    billing_plan_key: str = Field(..., pattern=r"^[a-z0-9][a-z0-9-]{1,46}[a-z0-9]$")

    @property
    def limits(self) -> tuple[int, int, int]:
        return (
            self.max_vcpus or self.vcpus,
            self.max_memory_mb or self.memory_mb,
            self.max_disk_gb or self.disk_gb,
        )


DEFAULT_PLANS = (
    VpsPlan(
        key="vps-1",
        name="VPS 1 vCPU / 1 GB / 10 GB",
        vcpus=1,
        memory_mb=1024,
        disk_gb=10,
        max_vcpus=1,
        max_memory_mb=1024,
        max_disk_gb=20,
        billing_plan_key="vps-1",
    ),
    VpsPlan(
        key="vps-2",
        name="VPS 2 vCPU / 2 GB / 20 GB",
        vcpus=2,
        memory_mb=2048,
        disk_gb=20,
        max_vcpus=2,
        max_memory_mb=2048,
        max_disk_gb=40,
        billing_plan_key="vps-2",
    ),
)


def catalog(settings: DeploySettings) -> tuple[VpsPlan, ...]:
    """The plans on offer (the setting's, when set; a broken setting stops startup)."""
    if settings.vps_plans is None:
        return DEFAULT_PLANS
    try:
        return tuple(VpsPlan.model_validate(p) for p in settings.vps_plans)
    except ValidationError as exc:
        raise ValueError(f"DEPLOY_VPS_PLANS is not a valid plan list: {exc}") from exc


def plan_of(settings: DeploySettings, key: str) -> VpsPlan:
    for plan in catalog(settings):
        if plan.key == key:
            return plan
    known = ", ".join(p.key for p in catalog(settings))
    raise Unprocessable(f"Unknown VPS plan {key!r} (plans: {known})", details={"field": "plan"})
