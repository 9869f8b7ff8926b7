"""The billing service's web process: `uvicorn berth_billing.main:create_app --factory`."""

from fastapi import FastAPI

from berth_billing.accounts.api import router as account_router
from berth_billing.accounts.api import services_router
from berth_billing.admin.api import router as admin_router
from berth_billing.config import BillingSettings, get_settings
from berth_billing.invoices.api import admin_router as invoices_admin_router
from berth_billing.invoices.api import router as invoices_router
from berth_billing.models import SCHEMA, Base
from berth_billing.payments.api import admin_router as payments_admin_router
from berth_billing.payments.api import router as payments_router
from berth_billing.payments.api import webhook_router
from berth_billing.payments.batcher import WebhookBatcher
from berth_billing.payments.provider import get_provider
from berth_billing.plans import service as plans
from berth_billing.plans.api import admin_router as plans_admin_router
from berth_billing.plans.api import router as plans_router
from berth_billing.tiers.api import admin_router as tiers_admin_router
from berth_common.service import build_service


def create_app(settings: BillingSettings | None = None) -> FastAPI:
    settings = settings or get_settings()

    async def seed(app: FastAPI) -> None:
        # idempotent: the template plans get a first price in this installation's currency
        # edge: the startup hook commits its own transaction, like the request dependency
        async with app.state.db.sessionmaker() as session, session.begin():
            await plans.ensure_seed(session, settings)

    app = build_service(
        settings,
        title="Berth billing",
        schema=SCHEMA,
        metadata=Base.metadata,
        routers=[
            account_router,
            services_router,
            payments_router,
            webhook_router,
            invoices_router,
            plans_router,
            admin_router,
            plans_admin_router,
            payments_admin_router,
            invoices_admin_router,
            tiers_admin_router,
        ],
        on_startup=[seed],
        docs_prefix="/api/billing",
    )
    app.state.payment_provider = provider = get_provider(settings)
    app.state.webhook_batcher = WebhookBatcher(app.state, settings, provider.name)
    return app
