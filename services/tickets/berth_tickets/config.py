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
    # the SLA tier of a customer billing never announced a tier for (billing.account.tier_changed)
    default_plan_tier: str = Field("standard", min_length=1, max_length=40)
    # a running SLA window is "at risk" when less than this share of it is left
    sla_at_risk_ratio: float = Field(0.25, gt=0, lt=1)

    # limits a customer cannot exceed
    subject_max_chars: int = Field(200, ge=20, le=200)
    body_max_chars: int = Field(20_000, ge=100, le=100_000)
    open_tickets_per_user: int = Field(50, ge=1, le=10_000)

    # -- email (berth_tickets.notify, berth_tickets.inbound) --------------------------------
    # replies go to reply+<signed token>@<reply_domain>: the operator's MX for this domain
    # hands mail to the inbound receiver (TICKETS_INBOUND_HOST/PORT)
    reply_domain: str = Field("reply.berth.localhost", min_length=3, max_length=200)
    # signs reply addresses; without it notifications carry no reply address and every
    # inbound mail is rejected. Rotate: move the old one to TICKETS_REPLY_SECRET_PREVIOUS
    # (comma-separated), still accepted, while new addresses are signed with the new one
    reply_secret: SecretStr | None = None
    reply_secret_previous: SecretStr | None = None
    # an address stays good this long after the notification that carried it
    reply_token_days: int = Field(90, ge=1, le=3650)
    inbound_host: str = "127.0.0.1"
    inbound_port: int = Field(2526, ge=1, le=65535)
    # a larger mail is refused in the SMTP dialogue (552), before it is stored
    inbound_max_bytes: int = Field(10 * 1024 * 1024, ge=10_000, le=50 * 1024 * 1024)
    # a processed mail's raw bytes are kept this long (its inbound_emails row stays)
    inbound_keep_raw_days: int = Field(30, ge=1, le=3650)


@lru_cache
def get_settings() -> TicketsSettings:
    return TicketsSettings()
