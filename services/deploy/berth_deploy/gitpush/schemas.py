import uuid
from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field


class DeployTokenCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=80, pattern=r"^[^\x00-\x1f\x7f]+$")


class DeployToken(BaseModel):
    """A token as listed: never the token itself, only its first characters."""

    id: uuid.UUID
    name: str
    prefix: str
    created_at: datetime
    last_used_at: datetime | None

    model_config = ConfigDict(from_attributes=True)


class DeployTokenCreated(DeployToken):
    token: str = Field(description="The token, shown this once: use it as the git password")
    remote_url: str = Field(description="The app's git remote on Berth")
