"""The chat service's web process: `uvicorn berth_chat.main:create_app --factory`."""

import uuid

from fastapi import FastAPI
from sqlalchemy.ext.asyncio import async_sessionmaker

from berth_chat.agents.api import router as agents_router
from berth_chat.agents.upstream import Upstream as AgentsUpstream
from berth_chat.config import ChatSettings, get_settings
from berth_chat.conversations import service
from berth_chat.conversations.api import router as conversations
from berth_chat.conversations.api import staff_router
from berth_chat.live import ws
from berth_chat.live.hub import Hub
from berth_chat.live.sends import SendBatcher
from berth_chat.models import SCHEMA, Base
from berth_chat.retention.api import router as retention_router
from berth_common.service import build_service


def create_app(settings: ChatSettings | None = None) -> FastAPI:
    settings = settings or get_settings()
    upstream = AgentsUpstream(settings)
    hub = Hub(settings.broker_url if settings.broker_is_amqp else None, settings.fanout_exchange)
    limiter = ws.MessageLimiter(settings.rate_limit_storage_url, settings.message_rate)

    async def start_hub(_: FastAPI) -> None:
        await hub.start()

    async def stop_hub(app: FastAPI) -> None:
        await ws.close_all(hub)
        await app.state.sends.stop()  # the batch in PostgreSQL ends (its senders hear)
        await hub.stop()
        await upstream.close()

    app = build_service(
        settings,
        title="Berth chat",
        schema=SCHEMA,
        metadata=Base.metadata,
        routers=[conversations, staff_router, ws.router, agents_router, retention_router],
        on_startup=[start_hub],
        on_shutdown=[stop_hub],
        extra_ready=[hub.ping],
        docs_prefix="/api/chat",
    )
    app.state.hub = hub
    sessionmaker = app.state.db.sessionmaker

    async def heads(conversation_ids: list[uuid.UUID]) -> dict[uuid.UUID, int]:
        async with sessionmaker() as session:
            return await service.last_seqs(session, conversation_ids)

    hub.heads = heads  # the sweep of the subscriptions (berth_chat.live.hub)
    # the sockets' sends in batches, each batch one call outside a transaction block (its own)
    autocommit = async_sessionmaker(
        app.state.db.engine.execution_options(isolation_level="AUTOCOMMIT"),
        expire_on_commit=False,
    )
    app.state.sends = SendBatcher(sessionmaker, autocommit, settings.message_max_chars)
    app.state.limiter = limiter
    app.state.agents_upstream = upstream
    return app
