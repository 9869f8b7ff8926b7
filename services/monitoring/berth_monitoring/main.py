"""The monitoring service's web process: `uvicorn berth_monitoring.main:create_app --factory`."""

from fastapi import FastAPI

from berth_common.service import build_service
from berth_monitoring.alerts.api import router as channels_router
from berth_monitoring.config import MonitoringSettings, get_settings
from berth_monitoring.incidents.api import router as incidents_router
from berth_monitoring.maintenance.api import router as maintenance_router
from berth_monitoring.models import SCHEMA, Base
from berth_monitoring.monitors.api import admin_router as monitors_admin_router
from berth_monitoring.monitors.api import heartbeat_router
from berth_monitoring.monitors.api import router as monitors_router
from berth_monitoring.queues.api import router as queues_router
from berth_monitoring.statuspages import api as statuspages_api
from berth_monitoring.targets import TargetPolicy


def create_app(settings: MonitoringSettings | None = None) -> FastAPI:
    settings = settings or get_settings()
    app = build_service(
        settings,
        title="Berth monitoring",
        schema=SCHEMA,
        metadata=Base.metadata,
        routers=[
            channels_router,
            statuspages_api.router,
            statuspages_api.public,
            monitors_router,
            heartbeat_router,
            incidents_router,
            maintenance_router,
            monitors_admin_router,
            queues_router,
        ],
        docs_prefix="/api/monitoring",
    )
    app.state.target_policy = TargetPolicy.from_settings(settings)
    return app
