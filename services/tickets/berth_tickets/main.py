"""The tickets service's web process: `uvicorn berth_tickets.main:create_app --factory`."""

from fastapi import FastAPI

from berth_common.service import build_service
from berth_tickets.attachments import api as attachments
from berth_tickets.config import TicketsSettings, get_settings
from berth_tickets.departments.api import router as departments_admin
from berth_tickets.inbound.api import router as inbound_admin
from berth_tickets.models import SCHEMA, Base
from berth_tickets.notify.api import router as reply_addresses
from berth_tickets.sla.api import router as sla_admin
from berth_tickets.staff.api import router as staff
from berth_tickets.tickets.api import departments_router
from berth_tickets.tickets.api import router as tickets
from berth_tickets.tickets.api import services_router as tickets_for_services
from berth_tickets.upstream import Upstream


def create_app(settings: TicketsSettings | None = None) -> FastAPI:
    settings = settings or get_settings()
    upstream = Upstream(settings)

    async def close_upstream(_: FastAPI) -> None:
        await upstream.close()

    app = build_service(
        settings,
        title="Berth tickets",
        schema=SCHEMA,
        metadata=Base.metadata,
        routers=[
            tickets,
            tickets_for_services,
            departments_router,
            staff,
            departments_admin,
            sla_admin,
            attachments.router,
            attachments.staff_router,
            inbound_admin,
            reply_addresses,
        ],
        on_shutdown=[close_upstream],
        docs_prefix="/api/tickets",
    )
    app.state.upstream = upstream
    return app
