"""Request and response models of machine-client administration."""

import uuid
from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

from berth_auth.scopes import SCOPE_CATALOG, SCOPE_PATTERN
from berth_common.pagination import Page

ScopeName = Annotated[str, StringConstraints(min_length=3, max_length=64)]


class ClientCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=120)]
    scopes: list[ScopeName] = Field(min_length=1, max_length=len(SCOPE_CATALOG))

    @field_validator("name")
    @classmethod
    def _printable_name(cls, value: str) -> str:
        if not value.isprintable():
            raise ValueError("name must not contain control characters")
        return value

    @field_validator("scopes")
    @classmethod
    def _known_scopes(cls, value: list[str]) -> list[str]:
        malformed = [s for s in value if not SCOPE_PATTERN.match(s)]
        if malformed:
            raise ValueError("scopes must look like service:action (lower case)")
        unknown = sorted({s for s in value if s not in SCOPE_CATALOG})
        if unknown:
            raise ValueError(f"unknown scopes: {', '.join(unknown)}")
        return sorted(set(value))


class Client(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    client_id: str
    name: str
    kind: str
    grant_types: list[str]
    scopes: list[str]
    created_by: uuid.UUID | None
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None


class ClientWithSecret(Client):
    """Returned once, on creation and on secret rotation; only a hash of the secret is kept."""

    client_secret: str


class ScopeInfo(BaseModel):
    name: str
    description: str


class ClientPage(Page[Client]):
    """A page of machine clients."""
