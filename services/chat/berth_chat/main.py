"""The chat service's web process: `uvicorn berth_chat.main:create_app --factory`."""

from fastapi import FastAPI

from berth_chat.agents.api import router as agents_router
from berth_chat.agents.upstream import Upstream as AgentsUpstream
from berth_chat.config import ChatSettings, get_settings
from berth_chat.models import SCHEMA, Base
from berth_common.service import build_service


def create_app(settings: ChatSettings | None = None) -> FastAPI:
    settings = settings or get_settings()
    upstream = AgentsUpstream(settings)

    async def close_upstream(_: FastAPI) -> None:
        await upstream.close()

    app = build_service(
        settings,
        title="Berth chat",
        schema=SCHEMA,
        metadata=Base.metadata,
        routers=[agents_router],
        on_shutdown=[close_upstream],
        docs_prefix="/api/chat",
    )
    app.state.agents_upstream = upstream
    return app
