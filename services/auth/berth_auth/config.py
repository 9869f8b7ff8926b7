from pydantic import AliasChoices, Field, SecretStr
from pydantic_settings import SettingsConfigDict

from berth_common.config import ServiceSettings
from berth_common.mail import MailSettings


class AuthSettings(ServiceSettings, MailSettings):
    model_config = SettingsConfigDict(env_prefix="AUTH_", extra="ignore")

    service_name: str = "auth"
    # JSON JWK Set of private signing keys; the first signs, all are published (rotation).
    jwt_private_jwks: SecretStr = Field(..., validation_alias="AUTH_JWT_PRIVATE_JWKS")
    # HMAC pepper for stored codes and refresh tokens
    secret_key: SecretStr = Field(..., validation_alias="AUTH_SECRET_KEY")
    access_token_expire_minutes: int = Field(
        10,
        ge=1,
        le=1440,
        validation_alias=AliasChoices(
            "ACCESS_TOKEN_EXPIRE_MINUTES", "AUTH_ACCESS_TOKEN_EXPIRE_MINUTES"
        ),
    )
    refresh_token_expire_days: int = Field(
        30,
        ge=1,
        le=365,
        validation_alias=AliasChoices(
            "REFRESH_TOKEN_EXPIRE_DAYS", "AUTH_REFRESH_TOKEN_EXPIRE_DAYS"
        ),
    )
    panel_client_id: str = "berth-panel"
    bootstrap_admin_email: str | None = None
    bootstrap_admin_password: SecretStr | None = None
    # JSON list of the platform services' own machine clients:
    # [{"client_id": "svc-billing", "secret": "...", "scopes": ["auth:read"]}]
    service_clients: SecretStr | None = None

    code_ttl_minutes: int = 15
    code_max_attempts: int = 5
    code_resend_seconds: int = 60
    login_window_minutes: int = 15
    # password attempts at one account from one address per window (atomic; then 429)
    login_max_failures_per_account_ip: int = Field(5, ge=1)
    # wrong current passwords when changing one's password, per account and window
    login_max_failures_per_account: int = 5
    # wrong guesses from one address across accounts per window (password spraying)
    login_max_failures_per_ip: int = 30
    # past this many wrong guesses at one account from anywhere, each attempt first waits
    login_backstop_failures: int = Field(20, ge=1)
    login_backstop_delay_seconds: float = Field(3.0, ge=0, le=30)


def get_settings() -> AuthSettings:
    return AuthSettings()
