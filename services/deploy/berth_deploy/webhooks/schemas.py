import uuid
from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field


class WebhookAck(BaseModel):
    outcome: str = Field(description="deployed | disabled | ignored | ping | preview | ...")
    operation_id: uuid.UUID | None
    duplicate: bool = Field(description="A redelivery: answered from the first, nothing done")


class WebhookSecret(BaseModel):
    secret: str = Field(description="Shown this once: paste it into the forge's webhook")
    set_at: datetime
    urls: dict[str, str] = Field(description="The webhook URL for each forge")


class WebhookDelivery(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    forge: str
    delivery_id: str
    event: str
    branch: str | None
    commit_sha: str | None
    outcome: str
    operation_id: uuid.UUID | None
    received_at: datetime


class WebhookStatus(BaseModel):
    secret_set_at: datetime | None = Field(description="null: no secret, webhooks are refused")
    urls: dict[str, str]
    deliveries: list[WebhookDelivery] = Field(description="The 20 most recent, newest first")
