"""Billing settings: installation currency, payment secrets, metering and dunning knobs."""

import re
from typing import Annotated

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import NoDecode, SettingsConfigDict

from berth_common.config import ServiceSettings
from berth_common.mail import MailSettings
from berth_common.money import currency_exponent
from berth_common.tiers import DEFAULT_TIER, TIER_PATTERN


class BillingSettings(ServiceSettings, MailSettings):
    model_config = SettingsConfigDict(env_prefix="BILLING_", extra="ignore")

    service_name: str = "billing"
    # one currency per installation (ISO 4217); amounts are integers in its minor unit
    currency: str = "EUR"
    webhook_secret: SecretStr = Field(..., validation_alias="BILLING_WEBHOOK_SECRET")
    webhook_tolerance_seconds: int = Field(300, ge=1, le=3600)
    # where the sandbox provider posts its webhooks; default: the public URL, like a real one
    sandbox_webhook_url: str | None = None
    checkout_token_ttl_seconds: int = Field(3600, ge=60, le=86400)
    # webhook deliveries arriving together share a transaction (payments/batcher.py): up to
    # this many transactions at once per web process, each of at most this many events
    webhook_batch_lanes: int = Field(2, ge=1, le=32)
    webhook_batch_max: int = Field(200, ge=1, le=5000)

    client_id: str | None = Field(None, validation_alias="BILLING_CLIENT_ID")
    client_secret: SecretStr | None = Field(None, validation_alias="BILLING_CLIENT_SECRET")
    auth_url: str = Field("http://127.0.0.1:8101", validation_alias="AUTH_URL")

    # bounds of one top-up, in minor units
    min_topup: int = Field(100, ge=1)
    max_topup: int = Field(1_000_000, ge=1)
    # bounds of an admin adjustment or a plan's hourly price, in minor units
    max_adjustment: int = Field(10_000_000, ge=1)
    max_hourly_price: int = Field(1_000_000, ge=1)

    low_balance_thresholds: list[int] = Field(default_factory=lambda: [500])
    grace_hours: float = Field(24.0, ge=0, le=24 * 90)
    # rows of the provider clearing account per currency: a payment's leg goes to one picked
    # by its id, so concurrent credits lock different rows (raising it later is safe)
    clearing_shards: int = Field(32, ge=1, le=1024)
    # hours before now the hourly run looks back for late events (reruns charge nothing twice)
    metering_lookback_hours: int = Field(48, ge=1, le=24 * 31)
    # an hour is charged in this many shards of the wallets at once, each its own transaction
    # on its own connection (PostgreSQL runs one statement on one core): a worker keeps 4
    # connections (berth_common.worker), the run itself needs one more than its shards
    metering_shards: int = Field(2, ge=1, le=3)

    # the service tiers an operator offers, comma-separated (BILLING_ACCOUNT_TIERS=standard,pro)
    account_tiers: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: [DEFAULT_TIER, "pro", "business"]
    )

    seller_name: str = "Berth Hosting"
    seller_address: str = "1 Harbour Street, Port Town"
    seller_vat_id: str = ""
    seller_email: str = "billing@berth.localhost"

    @field_validator("currency")
    @classmethod
    def _known_currency(cls, value: str) -> str:
        value = value.strip().upper()
        currency_exponent(value)  # raises for an unknown code
        return value

    @field_validator("account_tiers", mode="before")
    @classmethod
    def _tier_list(cls, value: object) -> object:
        if isinstance(value, str):
            value = [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("account_tiers")
    @classmethod
    def _tiers_are_slugs(cls, value: list[str]) -> list[str]:
        bad = [tier for tier in value if not re.fullmatch(TIER_PATTERN, tier)]
        if bad:
            raise ValueError(f"account tiers must be short slugs: {bad}")
        if DEFAULT_TIER not in value:
            raise ValueError(f"account tiers must include {DEFAULT_TIER!r} (every account's start)")
        return list(dict.fromkeys(value))

    @property
    def exponent(self) -> int:
        return currency_exponent(self.currency)

    @property
    def webhook_url(self) -> str:
        return self.sandbox_webhook_url or f"{self.issuer}/api/billing/v1/webhooks/sandbox"

    @property
    def token_url(self) -> str:
        return f"{self.auth_url.rstrip('/')}/oauth/token"


def get_settings() -> BillingSettings:
    return BillingSettings()
