"""The deploy service's web process: `uvicorn berth_deploy.main:create_app --factory`."""

from fastapi import FastAPI

from berth_common.service import build_service
from berth_deploy.admin.api import router as admin_router
from berth_deploy.apps.api import router as apps_router
from berth_deploy.apps.api import services_router as apps_services_router
from berth_deploy.config import DeploySettings, get_settings
from berth_deploy.env.api import router as env_router
from berth_deploy.env.service import EnvCipher
from berth_deploy.instances.api import router as liveness_router
from berth_deploy.logs.api import router as logs_router
from berth_deploy.logs.store import LogStore
from berth_deploy.models import SCHEMA, Base
from berth_deploy.node import warn_insecure_network
from berth_deploy.operations.api import router as operations_router
from berth_deploy.plans import PlanCatalog
from berth_deploy.previews.api import router as previews_router
from berth_deploy.templates.api import router as templates_router
from berth_deploy.webhooks.api import hooks_router
from berth_deploy.webhooks.api import router as webhooks_router


def create_app(settings: DeploySettings | None = None) -> FastAPI:
    settings = settings or get_settings()
    if settings.insecure_shared_network:
        warn_insecure_network()
    cipher = EnvCipher.from_settings(settings)  # a broken key stops startup, not a request
    plans = PlanCatalog(settings)

    async def close_plans(_: FastAPI) -> None:
        await plans.close()

    app = build_service(
        settings,
        title="Berth deploy",
        schema=SCHEMA,
        metadata=Base.metadata,
        routers=[
            templates_router,
            apps_router,
            operations_router,
            env_router,
            previews_router,
            webhooks_router,
            hooks_router,
            logs_router,
            liveness_router,
            apps_services_router,
            admin_router,
        ],
        docs_prefix="/api/deploy",
        on_shutdown=[close_plans],
    )
    app.state.env_cipher = cipher
    app.state.plan_catalog = plans
    app.state.log_store = LogStore(settings.data_dir)
    return app
