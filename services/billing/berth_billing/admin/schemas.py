import uuid
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, StrictInt

from berth_billing.payments.schemas import ABSURD


class AdjustmentCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    direction: Literal["credit", "debit"]
    amount: StrictInt = Field(..., gt=0, le=ABSURD, description="minor units")
    currency: str | None = Field(None, pattern=r"^[A-Za-z]{3}$")
    reason: str = Field(..., min_length=3, max_length=500)


class Adjustment(BaseModel):
    transaction_id: uuid.UUID
    account_id: uuid.UUID
    direction: Literal["credit", "debit"]
    amount: int
    currency: str
    reason: str
    balance: int


class MeteringRunCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    hour: datetime = Field(..., description="a full UTC hour that has ended")
    hours: int = Field(1, ge=1, le=24 * 31, description="how many hours from `hour`")
    full: bool = Field(
        False, description="rescan every interval, not only those changed since the last pass"
    )


class MeteringRun(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    hour: datetime
    triggered_by: str
    started_at: datetime
    finished_at: datetime | None
    charges: int
    amount: int


class MeteringRunAccepted(BaseModel):
    accepted: bool = True
    task_ids: list[str]
