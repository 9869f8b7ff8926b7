from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from berth_deploy.validation import EnvName, EnvValue


class EnvVarUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    value: EnvValue
    secret: bool = False


class EnvVar(BaseModel):
    name: str
    value: str | None = Field(description="null for secrets: their values are write-only")
    secret: bool
    updated_at: datetime


class EnvVarCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: EnvName
    value: EnvValue
    secret: bool = False


class EnvVarsUpdate(BaseModel):
    """Set several variables at once (others are kept)."""

    model_config = ConfigDict(extra="forbid")

    vars: list[EnvVarCreate] = Field(min_length=1, max_length=200)
