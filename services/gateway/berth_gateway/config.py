"""Gateway settings: the shared platform variables plus GATEWAY_* knobs for limits and caching."""

from pydantic_settings import SettingsConfigDict

from berth_common.config import ServiceSettings


class GatewaySettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="GATEWAY_", extra="ignore", case_sensitive=False)

    service_name: str = "gateway"
    rate_limit_enabled: bool = True
    # "memory://" per process (dev); "async+redis://host:6379" shares counters across replicas
    rate_limit_storage_url: str = "memory://"
    rate_limit_authenticated: str = "600/minute"
    rate_limit_anonymous: str = "120/minute"
    # verified tokens are remembered this long (never past their exp) to skip the signature check
    token_cache_seconds: int = 30
    token_cache_size: int = 10_000
