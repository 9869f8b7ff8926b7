"""The deploy service's web process: `uvicorn berth_deploy.main:create_app --factory`."""

from fastapi import FastAPI
from starlette.routing import Route

from berth_common.service import build_service
from berth_deploy.admin.api import router as admin_router
from berth_deploy.apps.api import router as apps_router
from berth_deploy.apps.api import services_router as apps_services_router
from berth_deploy.config import DeploySettings, get_settings
from berth_deploy.env.api import router as env_router
from berth_deploy.env.service import EnvCipher
from berth_deploy.gitpush.api import router as deploy_tokens_router
from berth_deploy.gitpush.backend import GitHttpEndpoint
from berth_deploy.gitpush.relay import PushRelay
from berth_deploy.gitpush.repo import install_hooks
from berth_deploy.instances.api import router as liveness_router
from berth_deploy.logs.api import router as logs_router
from berth_deploy.logs.store import LogStore
from berth_deploy.models import SCHEMA, Base
from berth_deploy.node import warn_insecure_network
from berth_deploy.nodes.api import provider_router as traefik_provider_router
from berth_deploy.nodes.api import router as nodes_router
from berth_deploy.operations.api import router as operations_router
from berth_deploy.plans import PlanCatalog
from berth_deploy.previews.api import router as previews_router
from berth_deploy.templates.api import router as templates_router
from berth_deploy.vps.admin_api import router as vps_admin_router
from berth_deploy.vps.api import router as vps_router
from berth_deploy.vps.console import ws as console_ws
from berth_deploy.vps.console.api import admin_router as console_admin_router
from berth_deploy.vps.console.api import router as console_tokens_router
from berth_deploy.vps.console.relay import ConsoleRegistry, machine_locator
from berth_deploy.vps.liveness_api import router as vps_liveness_router
from berth_deploy.webhooks.api import hooks_router
from berth_deploy.webhooks.api import router as webhooks_router


def create_app(settings: DeploySettings | None = None) -> FastAPI:
    settings = settings or get_settings()
    if settings.insecure_shared_network:
        warn_insecure_network()
    cipher = EnvCipher.from_settings(settings)  # a broken key stops startup, not a request
    plans = PlanCatalog(settings)

    relay = PushRelay(settings)
    install_hooks(settings)

    async def close_plans(_: FastAPI) -> None:
        await plans.close()

    consoles = ConsoleRegistry()

    async def close_consoles(_: FastAPI) -> None:
        await console_ws.close_all(consoles)

    app = build_service(
        settings,
        title="Berth deploy",
        schema=SCHEMA,
        metadata=Base.metadata,
        routers=[
            # before the VPS routers: /admin/vps/console-sessions is not a VPS id
            console_admin_router,
            console_tokens_router,
            console_ws.router,
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
            nodes_router,
            traefik_provider_router,
            deploy_tokens_router,
            vps_router,
            vps_admin_router,
            vps_liveness_router,
        ],
        docs_prefix="/api/deploy",
        on_startup=[relay.start],
        on_shutdown=[close_consoles, close_plans, relay.stop],
    )
    app.state.env_cipher = cipher
    app.state.plan_catalog = plans
    app.state.log_store = LogStore(settings.data_dir)
    app.state.push_relay = relay
    app.state.console_registry = consoles
    app.state.console_locator = machine_locator(app.state)
    # git's smart HTTP (a raw ASGI endpoint: bodies stream both ways); public by the gateway's
    # policy, authenticated here with a deploy token
    app.router.routes.append(
        Route(
            "/git/{slug}.git/{rest:path}",
            GitHttpEndpoint(settings, relay),
            methods=["GET", "HEAD", "POST"],
        )
    )
    return app
