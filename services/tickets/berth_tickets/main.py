"""The tickets service's web process: `uvicorn berth_tickets.main:create_app --factory`."""

from fastapi import FastAPI

from berth_common.service import build_service
from berth_tickets.config import TicketsSettings, get_settings
from berth_tickets.inbound.api import router as inbound_admin
from berth_tickets.models import SCHEMA, Base


def create_app(settings: TicketsSettings | None = None) -> FastAPI:
    settings = settings or get_settings()
    return build_service(
        settings,
        title="Berth tickets",
        schema=SCHEMA,
        metadata=Base.metadata,
        routers=[inbound_admin],
        docs_prefix="/api/tickets",
    )
