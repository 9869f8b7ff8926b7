from typing import Annotated

from pydantic import BaseModel, ConfigDict, StringConstraints

from berth_deploy.validation import CONTROL


class SuspensionCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: Annotated[str, StringConstraints(min_length=1, max_length=400, strip_whitespace=True)]

    def clean_reason(self) -> str:
        return CONTROL.sub(" ", self.reason)


class Isolation(BaseModel):
    """How this platform runs tenants' code, for the admin panel's warnings."""

    network_isolation: bool
    warnings: list[str]
