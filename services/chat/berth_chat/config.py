"""Chat's settings: env prefix CHAT_ plus the platform-wide contract variables."""

import re
from functools import lru_cache

from pydantic import AliasChoices, Field, SecretStr, field_validator
from pydantic_settings import SettingsConfigDict

from berth_common.config import ServiceSettings
from berth_common.tiers import TIER_PATTERN

MAX_RETENTION_DAYS = 3650


class ChatSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="CHAT_", extra="ignore")

    service_name: str = "chat"

    # the platform's machine client: reads a customer's agent apps (deploy) and opens tickets
    # from conversations (tickets), with scopes auth:read deploy:read tickets:write
    client_id: str | None = Field(None, validation_alias="CHAT_CLIENT_ID")
    client_secret: SecretStr | None = Field(None, validation_alias="CHAT_CLIENT_SECRET")
    deploy_url: str = Field("http://127.0.0.1:8103", validation_alias="DEPLOY_URL")
    tickets_url: str = Field("http://127.0.0.1:8105", validation_alias="TICKETS_URL")

    # a send waits this long for a pooled connection before it is refused 503 (a burst of sends
    # queues for the pool rather than failing after the platform's 5 s; still bounded)
    db_pool_wait_seconds: float = Field(
        15.0,
        gt=0,
        le=60,
        validation_alias=AliasChoices("CHAT_DB_POOL_WAIT_SECONDS", "DB_POOL_WAIT_SECONDS"),
    )

    # -- the WebSocket (berth_chat.ws) ------------------------------------------------------
    # the server pings every this many seconds; a peer silent for ping_timeout is closed 4408
    ping_interval_seconds: float = Field(30.0, gt=0, le=300)
    ping_timeout_seconds: float = Field(20.0, gt=0, le=300)
    # a connection that sends nothing at all (not even pongs) this long is closed 4408
    idle_timeout_seconds: float = Field(600.0, gt=0, le=24 * 3600)
    # a frame larger than this is refused with close 4413 (a message body larger than
    # message_max_chars gets error 413 on the socket and 413 on REST)
    frame_max_bytes: int = Field(16 * 1024, ge=1024, le=1024 * 1024)
    message_max_chars: int = Field(4096, ge=16, le=64 * 1024)
    # a replay after resume is sent in pages of this many messages
    replay_page_size: int = Field(200, ge=10, le=1000)
    history_page_max: int = Field(200, ge=10, le=1000)

    # -- limits ------------------------------------------------------------------------------
    # per user, all their sockets and replicas together when the storage is shared (Redis):
    # "memory://" counts per process, "async+redis://127.0.0.1:6379" across replicas
    rate_limit_storage_url: str = "memory://"
    # a token bucket: this many messages, refilled over the period (limits' moving window)
    message_rate: str = Field("20/10seconds", min_length=3, max_length=40)
    conversations_per_user: int = Field(20, ge=1, le=1000)
    # messages older than their customer's tier's days are deleted by the beat, as JSON:
    # CHAT_RETENTION_DAYS_BY_TIER={"standard":90,"pro":365}; a tier missing from it keeps
    # messages CHAT_RETENTION_DAYS (customers billing never moved are on `standard`)
    retention_days_by_tier: dict[str, int] = Field(
        default_factory=lambda: {"standard": 90, "pro": 365, "business": 730}
    )
    retention_days: int = Field(365, ge=1, le=MAX_RETENTION_DAYS)

    # -- fan-out between replicas -----------------------------------------------------------
    fanout_exchange: str = "chat.fanout"

    # -- agent conversations (berth_chat.agents) ---------------------------------------------
    # agents are reached only through Traefik's web entry with the app's Host header
    # (<slug>.<APPS_DOMAIN>); no public name is ever resolved
    traefik_entry_url: str = Field(
        "http://127.0.0.1:8080", validation_alias="CHAT_TRAEFIK_ENTRY_URL"
    )
    apps_domain: str = Field("apps.localhost", validation_alias="APPS_DOMAIN")
    agent_connect_timeout_seconds: float = Field(3.0, gt=0, le=60)
    # the longest silence between two pieces of an answer, and the whole answer's limit
    agent_read_timeout_seconds: float = Field(30.0, gt=0, le=600)
    agent_total_timeout_seconds: float = Field(90.0, gt=0, le=600)
    # tries of one request (connect errors, 502/503/504, timeouts) before the conversation is
    # told the agent did not answer; the waits between them grow (Celery's backoff, jittered)
    agent_max_attempts: int = Field(4, ge=1, le=10)
    agent_retry_backoff_max_seconds: int = Field(60, ge=1, le=3600)
    agent_reply_max_chars: int = Field(16_000, ge=100, le=60_000)
    # a streaming answer is written to its message at least this often (and at its end)
    agent_stream_persist_seconds: float = Field(1.0, gt=0, le=60)
    # the tickets department a conversation turned into a ticket goes to
    ticket_department: str = Field("support", min_length=1, max_length=40)
    ticket_transcript_max_chars: int = Field(19_000, ge=1000, le=20_000)

    @field_validator("retention_days_by_tier")
    @classmethod
    def _tier_days(cls, value: dict[str, int]) -> dict[str, int]:
        for tier, days in value.items():
            if not re.fullmatch(TIER_PATTERN, tier):
                raise ValueError(f"not a tier: {tier!r}")
            if not 1 <= days <= MAX_RETENTION_DAYS:
                raise ValueError(f"{tier}: retention must be 1..{MAX_RETENTION_DAYS} days")
        return value

    def retention_of(self, tier: str) -> int:
        """Days a customer on `tier` keeps their messages."""
        return self.retention_days_by_tier.get(tier, self.retention_days)


@lru_cache
def get_settings() -> ChatSettings:
    return ChatSettings()
