"""Models of the signed-in user's own endpoints (/me)."""

import uuid
from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, StringConstraints

from berth_auth.accounts.schemas import IpText, Name, Password, Phone, RequestModel
from berth_common.pagination import Page


class ProfileUpdate(RequestModel):
    """Fields left out stay as they are; `phone: null` removes the phone number."""

    name: Name = ""
    phone: Phone | None = None


class PasswordUpdate(RequestModel):
    # older passwords may predate the current length rules, so only bound the input
    current_password: Annotated[str, StringConstraints(min_length=1, max_length=128)]
    new_password: Password


class LoginSession(BaseModel):
    id: uuid.UUID
    client_id: str
    created_at: datetime
    last_used_at: datetime
    expires_at: datetime
    ip: IpText
    user_agent: str | None
    current: bool
    active: bool
    revoked_at: datetime | None
    revoked_reason: str | None


class LoginHistoryEntry(BaseModel):
    time: datetime
    kind: str
    ip: IpText
    user_agent: str | None
    success: bool
    reason: str | None


class LoginSessionPage(Page[LoginSession]):
    """A page of the person's signed-in sessions."""


class LoginHistoryPage(Page[LoginHistoryEntry]):
    """A page of the person's login history."""
