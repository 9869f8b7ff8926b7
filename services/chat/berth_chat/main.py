"""The chat service's web process: `uvicorn berth_chat.main:create_app --factory`."""

from fastapi import FastAPI

from berth_chat.config import ChatSettings, get_settings
from berth_chat.models import SCHEMA, Base
from berth_common.service import build_service


def create_app(settings: ChatSettings | None = None) -> FastAPI:
    settings = settings or get_settings()
    return build_service(
        settings,
        title="Berth chat",
        schema=SCHEMA,
        metadata=Base.metadata,
        routers=[],
        docs_prefix="/api/chat",
    )
