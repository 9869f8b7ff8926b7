import uuid
from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from berth_common.pagination import Page
from berth_common.tiers import TIER_MAX_CHARS


class TierUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    tier: str = Field(..., min_length=1, max_length=TIER_MAX_CHARS)
    reason: str = Field("", max_length=500)


class AccountTier(BaseModel):
    owner_id: uuid.UUID
    tier: str
    # when it last changed (the account's opening when it never did)
    changed_at: datetime


class TierChanged(AccountTier):
    account_id: uuid.UUID
    # False when the account was already on that tier (nothing recorded, no event)
    changed: bool


class TierChange(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    account_id: uuid.UUID
    from_tier: str
    to_tier: str
    changed_by: str
    reason: str
    changed_at: datetime


class TierChangePage(Page[TierChange]):
    pass


class TierList(BaseModel):
    tiers: list[str]
    default: str
