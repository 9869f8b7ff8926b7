"""Monitoring's settings: env prefix MONITORING_ plus the platform-wide contract variables."""

from functools import lru_cache

from pydantic import Field, SecretStr
from pydantic_settings import SettingsConfigDict

from berth_common.config import ServiceSettings
from berth_common.mail import MailSettings


class MonitoringSettings(ServiceSettings, MailSettings):
    model_config = SettingsConfigDict(env_prefix="MONITORING_", extra="ignore")

    service_name: str = "monitoring"

    # the platform's machine client: asks deploy for process liveness
    client_id: str | None = Field(None, validation_alias="MONITORING_CLIENT_ID")
    client_secret: SecretStr | None = Field(None, validation_alias="MONITORING_CLIENT_SECRET")
    deploy_url: str = Field("http://127.0.0.1:8103", validation_alias="DEPLOY_URL")
    apps_domain: str = Field("apps.localhost", validation_alias="APPS_DOMAIN")
    # where the platform's own checks of apps enter Traefik (`web` entry point): an app is
    # checked through its route, as its visitors reach it, never by its sandbox address
    traefik_entry_url: str = Field(
        "http://127.0.0.1:8080", validation_alias="MONITORING_TRAEFIK_ENTRY_URL"
    )

    # user monitors: only public addresses, except networks an operator opens here
    # (comma-separated CIDRs, e.g. a LAN the installation serves; tests open 127.0.0.2/32)
    allowed_private_networks: str = ""
    # host names no user monitor may target besides the platform's own (comma-separated)
    refused_hosts: str = ""

    # checks: how often, how long, how many failures/successes change the state
    min_interval_seconds: int = Field(20, ge=1, le=3600)
    default_interval_seconds: int = Field(60, ge=1, le=86400)
    default_timeout_seconds: float = Field(10.0, gt=0, le=60)
    default_failure_threshold: int = Field(3, ge=1, le=20)
    default_success_threshold: int = Field(2, ge=1, le=20)
    # a deploy mutes its app's monitors until its health check passes, plus this tail
    deploy_mute_tail_seconds: int = Field(60, ge=0, le=3600)
    monitors_per_user: int = Field(2000, ge=1, le=100_000)
    # the checker (checks helper): one RUN_CHECKS task keeps checking what falls due for
    # check_run_seconds (beat starts the next one), claiming at most check_batch_size monitors
    # per transaction, with check_concurrency checks in flight
    check_run_seconds: float = Field(5.0, gt=0, le=55)
    check_batch_size: int = Field(500, ge=1, le=5000)
    check_concurrency: int = Field(300, ge=1, le=2000)

    # retention: raw results, then rollups (per plan where the plan says otherwise)
    raw_retention_days: int = Field(2, ge=1, le=31)
    minute_retention_days: int = Field(2, ge=1, le=31)
    hour_retention_days: int = Field(90, ge=1, le=3650)
    day_retention_days: int = Field(400, ge=1, le=3650)

    # alert channels: secrets at rest (Fernet keys, comma-separated: the first encrypts)
    channel_encryption_key: SecretStr | None = Field(
        None, validation_alias="MONITORING_CHANNEL_ENCRYPTION_KEY"
    )
    telegram_api_url: str = "https://api.telegram.org"

    # queue pages: RabbitMQ's Prometheus endpoint (rabbitmq_prometheus plugin), how often
    # every queue is sampled, how long history is kept, how often task events are flushed
    rabbitmq_prometheus_url: str = Field(
        "http://127.0.0.1:15692", validation_alias="MONITORING_RABBITMQ_PROMETHEUS_URL"
    )
    queue_sample_seconds: int = Field(20, ge=1, le=300)
    queue_history_days: int = Field(7, ge=1, le=31)
    queue_events_flush_seconds: float = Field(5.0, gt=0, le=60)

    @property
    def token_url(self) -> str:
        return f"{self.auth_url.rstrip('/')}/oauth/token"


@lru_cache
def get_settings() -> MonitoringSettings:
    return MonitoringSettings()
