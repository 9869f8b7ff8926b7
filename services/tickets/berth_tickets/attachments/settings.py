"""Attachments' settings (env prefix TICKETS_): where files live and how large they may be."""

from functools import lru_cache
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class AttachmentSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="TICKETS_", extra="ignore")

    # local storage's root: outside any web root (nothing serves this folder directly)
    attachments_dir: Path = Path("var/tickets/attachments")
    # under the gateway's 10 MiB API body limit (Traefik buffering), with room for the envelope
    attachment_max_bytes: int = Field(8 * 1024 * 1024, ge=1024, le=100 * 1024 * 1024)
    # files one message or note may carry
    attachments_per_item: int = Field(10, ge=1, le=50)


@lru_cache
def get_attachment_settings() -> AttachmentSettings:
    return AttachmentSettings()
