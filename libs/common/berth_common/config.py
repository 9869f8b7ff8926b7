"""Settings shared by every service; each service subclasses with its own env prefix."""

from typing import ClassVar
from urllib.parse import urlsplit

from pydantic import AliasChoices, Field
from pydantic_settings import BaseSettings, SettingsConfigDict

#: the browser's access-token cookie (set by the frontend, read by the gateway and services)
ACCESS_COOKIE = "berth_access"


class ServiceSettings(BaseSettings):
    """Platform-wide settings read without a prefix (one value for all services).

    A service subclass sets ``model_config = SettingsConfigDict(env_prefix="AUTH_")`` for its
    own fields; the fields here keep their explicit aliases, so the prefix does not apply to them.
    """

    model_config = SettingsConfigDict(extra="ignore", case_sensitive=False)
    #: task queues this service makes at run time, by prefix (deploy: one per node); the
    #: publisher declares such a queue before it sends the first message to it
    task_queue_prefixes: ClassVar[tuple[str, ...]] = ()

    service_name: str = "berth"
    database_url: str = Field(
        "postgresql+asyncpg://postgres@127.0.0.1:5432/berth",
        validation_alias=AliasChoices("DATABASE_URL"),
    )
    db_pool_size: int = Field(20, validation_alias=AliasChoices("DB_POOL_SIZE"))
    # how long a request waits for a pooled connection before it fails (503)
    db_pool_wait_seconds: float = Field(
        5.0, gt=0, le=60, validation_alias=AliasChoices("DB_POOL_WAIT_SECONDS")
    )
    broker_url: str = Field(
        "amqp://guest:guest@127.0.0.1:5672//", validation_alias=AliasChoices("BROKER_URL")
    )
    broker_filesystem_dir: str = Field("var/broker", validation_alias="BROKER_FILESYSTEM_DIR")
    public_url: str = Field("http://localhost:8080", validation_alias="BERTH_PUBLIC_URL")
    # an optional second platform host (e.g. admin only): same routes, same origin rules
    admin_url: str | None = Field(None, validation_alias="BERTH_ADMIN_URL")
    jwks_url: str = Field(
        "http://127.0.0.1:8101/.well-known/jwks.json", validation_alias="JWKS_URL"
    )
    auth_url: str = Field("http://127.0.0.1:8101", validation_alias="AUTH_URL")
    token_audience: str = Field("berth", validation_alias="TOKEN_AUDIENCE")
    jwks_cache_seconds: int = Field(300, validation_alias="JWKS_CACHE_SECONDS")
    # a verified access token is remembered this long (never past its exp): repeat requests
    # skip the signature check; revocation is checked on every request all the same
    token_cache_seconds: int = Field(30, ge=0, le=300, validation_alias="TOKEN_CACHE_SECONDS")
    token_cache_size: int = Field(10_000, ge=0, validation_alias="TOKEN_CACHE_SIZE")
    # proxies in front of the services that append to X-Forwarded-For (Traefik: one)
    trusted_proxy_hops: int = Field(1, ge=0, le=10, validation_alias="TRUSTED_PROXY_HOPS")
    log_level: str = Field("INFO", validation_alias="LOG_LEVEL")
    log_json: bool = Field(True, validation_alias="LOG_JSON")

    @property
    def issuer(self) -> str:
        return self.public_url.rstrip("/")

    @property
    def revocations_url(self) -> str:
        """auth's current list of revoked sessions, clients and users (internal, not routed)."""
        from berth_common.revocation import REVOCATIONS_PATH

        return f"{self.auth_url.rstrip('/')}{REVOCATIONS_PATH}"

    @property
    def platform_origins(self) -> frozenset[str]:
        """The origins (scheme://host[:port]) the platform's own pages are served from."""
        return frozenset(origin_of(url) for url in (self.public_url, self.admin_url) if url)

    @property
    def secure_cookies(self) -> bool:
        """Browsers reach the platform over https: cookies are Secure and `__Host-` prefixed."""
        return self.public_url.lower().startswith("https://")

    def cookie_name(self, name: str) -> str:
        """`__Host-<name>` over https: only this exact host may set it (Secure, Path=/, no
        Domain), so a sibling subdomain (a tenant's app) can neither plant nor shadow it.
        The bare name over plain http (development), where cookies stay host-only."""
        return f"__Host-{name}" if self.secure_cookies else name

    @property
    def access_cookie(self) -> str:
        return self.cookie_name(ACCESS_COOKIE)

    @property
    def broker_is_amqp(self) -> bool:
        return self.broker_url.startswith(("amqp://", "amqps://", "pyamqp://"))


def origin_of(url: str) -> str:
    """scheme://host[:port] of a URL, lower-cased, default ports dropped (as browsers send
    the Origin header)."""
    parts = urlsplit(url.strip())
    scheme, host = parts.scheme.lower(), (parts.hostname or "").lower()
    if ":" in host:
        host = f"[{host}]"
    default = {"http": 80, "https": 443}.get(scheme)
    port = parts.port
    return f"{scheme}://{host}" if port in (None, default) else f"{scheme}://{host}:{port}"
