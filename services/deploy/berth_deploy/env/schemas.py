from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from berth_deploy.validation import EnvName, EnvValue


class EnvVarSet(BaseModel):
    model_config = ConfigDict(extra="forbid")

    value: EnvValue
    secret: bool = False


class EnvVarOut(BaseModel):
    name: str
    value: str | None = Field(description="null for secrets: their values are write-only")
    secret: bool
    updated_at: datetime


class EnvBulkItem(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: EnvName
    value: EnvValue
    secret: bool = False


class EnvBulkSet(BaseModel):
    """Set several variables at once (others are kept)."""

    model_config = ConfigDict(extra="forbid")

    vars: list[EnvBulkItem] = Field(min_length=1, max_length=200)
