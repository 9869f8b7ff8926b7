from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field, StrictInt

from berth_billing.payments.schemas import ABSURD

# apps one person may have on a plan: the default of a new plan, and the most an admin may set
DEFAULT_MAX_APPS = 10
MAX_APPS_BOUND = 10_000


class Price(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    plan_key: str
    amount_per_hour: int
    currency: str
    valid_from: datetime
    created_by: str
    created_at: datetime


class Plan(BaseModel):
    key: str
    name: str
    description: str
    is_active: bool
    max_apps_per_owner: int = Field(description="apps on this plan one person may have")
    currency: str
    # the price of the current hour, and a change already scheduled for a later hour
    amount_per_hour: int | None
    next_price: Price | None


class PlanCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    key: str = Field(..., pattern=r"^[a-z0-9][a-z0-9-]{1,46}[a-z0-9]$")
    name: str = Field(..., min_length=1, max_length=120)
    description: str = Field("", max_length=500)
    amount_per_hour: StrictInt = Field(..., ge=0, le=ABSURD)
    currency: str | None = Field(None, pattern=r"^[A-Za-z]{3}$")
    max_apps_per_owner: StrictInt = Field(DEFAULT_MAX_APPS, ge=0, le=MAX_APPS_BOUND)


class PlanUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(None, min_length=1, max_length=120)
    description: str | None = Field(None, max_length=500)
    is_active: bool | None = None
    max_apps_per_owner: StrictInt | None = Field(None, ge=0, le=MAX_APPS_BOUND)


class PriceCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    amount_per_hour: StrictInt = Field(..., ge=0, le=ABSURD)
    currency: str | None = Field(None, pattern=r"^[A-Za-z]{3}$")
    valid_from: datetime | None = Field(
        None, description="a full hour, at the earliest the next one (the default)"
    )
