"""Models of user administration."""

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, Field, StringConstraints

from berth_auth.accounts.schemas import RequestModel, _no_control_chars
from berth_common.pagination import Page

Role = Literal["user", "support", "oncall", "admin"]


class UserFilters(BaseModel):
    q: str | None = None
    role: Role | None = None
    blocked: bool | None = None
    verified: bool | None = None


class User(BaseModel):
    id: uuid.UUID
    email: str
    name: str
    phone: str | None
    roles: list[str]
    is_blocked: bool
    blocked_reason: str | None
    email_verified: bool
    email_verified_at: datetime | None
    password_changed_at: datetime | None
    created_at: datetime

    @classmethod
    def from_user(cls, user: Any) -> "User":
        return cls(
            id=user.id,
            email=user.email,
            name=user.name,
            phone=user.phone,
            roles=list(user.roles),
            is_blocked=user.is_blocked,
            blocked_reason=user.blocked_reason,
            email_verified=user.email_verified_at is not None,
            email_verified_at=user.email_verified_at,
            password_changed_at=user.password_changed_at,
            created_at=user.created_at,
        )


class AuditNote(BaseModel):
    id: uuid.UUID
    actor_id: str
    action: str
    detail: str
    created_at: datetime


class UserDetail(User):
    active_sessions: int
    audit: list[AuditNote]


class UserBlock(RequestModel):
    reason: Annotated[
        str,
        StringConstraints(strip_whitespace=True, min_length=1, max_length=500),
        AfterValidator(_no_control_chars),
    ]


class UserRolesUpdate(RequestModel):
    roles: list[Role] = Field(..., max_length=8)


class UserPage(Page[User]):
    """A page of users (the admins' list)."""
