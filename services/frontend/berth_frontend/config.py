"""Frontend settings: the shared platform variables, the services it renders, its own secret."""

from pydantic import AliasChoices, Field, SecretStr
from pydantic_settings import SettingsConfigDict

from berth_common.config import ServiceSettings


class FrontendSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="FRONTEND_", extra="ignore")

    service_name: str = "frontend"
    # signs CSRF tokens; no default: the dev runner and the test plugin generate one
    secret_key: SecretStr = Field(..., validation_alias=AliasChoices("FRONTEND_SECRET_KEY"))
    deploy_url: str = Field("http://127.0.0.1:8103", validation_alias="DEPLOY_URL")
    billing_url: str = Field("http://127.0.0.1:8102", validation_alias="BILLING_URL")
    monitoring_url: str = Field("http://127.0.0.1:8104", validation_alias="MONITORING_URL")
    tickets_url: str = Field("http://127.0.0.1:8105", validation_alias="TICKETS_URL")
    chat_url: str = Field("http://127.0.0.1:8106", validation_alias="CHAT_URL")
    panel_client_id: str = "berth-panel"
    # refresh the access token when it has less than this left, so a page never starts
    # calling the services with a token that expires halfway through
    refresh_margin_seconds: int = Field(60, ge=0, le=600)
    refresh_cookie_days: int = Field(30, ge=1, le=365)
    # how long the result of one refresh is reused by the browser's other in-flight requests
    refresh_reuse_seconds: int = Field(30, ge=1, le=300)


def get_settings() -> FrontendSettings:
    return FrontendSettings()
