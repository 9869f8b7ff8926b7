"""Tickets' settings: env prefix TICKETS_ plus the platform-wide contract variables."""

from functools import lru_cache

from pydantic import Field, SecretStr
from pydantic_settings import SettingsConfigDict

from berth_common.config import ServiceSettings
from berth_common.mail import MailSettings


class TicketsSettings(ServiceSettings, MailSettings):
    model_config = SettingsConfigDict(env_prefix="TICKETS_", extra="ignore")

    service_name: str = "tickets"

    # the platform's machine client: checks a linked app, invoice or incident belongs to the
    # customer and gathers the context staff see (auth, deploy, billing, monitoring: read)
    client_id: str | None = Field(None, validation_alias="TICKETS_CLIENT_ID")
    client_secret: SecretStr | None = Field(None, validation_alias="TICKETS_CLIENT_SECRET")
    deploy_url: str = Field("http://127.0.0.1:8103", validation_alias="DEPLOY_URL")
    billing_url: str = Field("http://127.0.0.1:8102", validation_alias="BILLING_URL")
    monitoring_url: str = Field("http://127.0.0.1:8104", validation_alias="MONITORING_URL")
    # each part of a new ticket's context waits at most this long for its service
    context_timeout_seconds: float = Field(3.0, gt=0, le=30)
    context_log_lines: int = Field(20, ge=0, le=200)

    # tickets waiting on the customer close after this long without an answer
    auto_close_hours: int = Field(168, ge=1, le=24 * 365)
    # the SLA tier of a customer whose tier is not known otherwise
    default_plan_tier: str = Field("standard", min_length=1, max_length=40)
    # a running SLA window is "at risk" when less than this share of it is left
    sla_at_risk_ratio: float = Field(0.25, gt=0, lt=1)

    # limits a customer cannot exceed
    subject_max_chars: int = Field(200, ge=20, le=200)
    body_max_chars: int = Field(20_000, ge=100, le=100_000)
    open_tickets_per_user: int = Field(50, ge=1, le=10_000)


@lru_cache
def get_settings() -> TicketsSettings:
    return TicketsSettings()
