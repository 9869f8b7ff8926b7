"""Plans and prices: everyone signed in reads them, admins change them."""

from fastapi import Path

from berth_billing.deps import SettingsDep, actor
from berth_billing.plans import schemas, service
from berth_common.db import SessionDep
from berth_common.errors import (
    Conflict,
    NotFound,
    Unprocessable,
    error_responses,
)
from berth_common.routing import public_router, role_router
from berth_common.security import AdminUser

API = "/api/billing/v1"
PlanKey = Path(..., pattern=r"^[a-z0-9][a-z0-9-]{1,46}[a-z0-9]$")

# The price list is public on purpose: the landing page shows it to visitors.
router = public_router(prefix=API, tags=["plans"])


@router.get("/plans", response_model=list[schemas.Plan])
async def plans(session: SessionDep, settings: SettingsDep) -> list[schemas.Plan]:
    return await service.list_plans(session, settings)


admin_router = role_router("admin", prefix=f"{API}/admin/plans", tags=["admin"])


@admin_router.get("", response_model=list[schemas.Plan])
async def admin_plans(session: SessionDep, settings: SettingsDep) -> list[schemas.Plan]:
    return await service.list_plans(session, settings)


@admin_router.post(
    "",
    status_code=201,
    response_model=schemas.Plan,
    responses=error_responses(Conflict, Unprocessable),
)
async def create_plan(
    body: schemas.PlanCreate, admin: AdminUser, session: SessionDep, settings: SettingsDep
) -> schemas.Plan:
    return await service.create_plan(session, settings, body, actor(admin))


@admin_router.patch(
    "/{key}", response_model=schemas.Plan, responses=error_responses(NotFound, Unprocessable)
)
async def update_plan(
    body: schemas.PlanUpdate,
    session: SessionDep,
    settings: SettingsDep,
    key: str = PlanKey,
) -> schemas.Plan:
    return await service.update_plan(session, settings, key, body)


@admin_router.get(
    "/{key}/prices", response_model=list[schemas.Price], responses=error_responses(NotFound)
)
async def price_history(session: SessionDep, key: str = PlanKey) -> list[schemas.Price]:
    return await service.history(session, key)


@admin_router.post(
    "/{key}/prices",
    status_code=201,
    response_model=schemas.Price,
    responses=error_responses(NotFound, Unprocessable),
    description="Schedule a new hourly price from a full hour (default: the next hour).",
)
async def change_price(
    body: schemas.PriceCreate,
    admin: AdminUser,
    session: SessionDep,
    settings: SettingsDep,
    key: str = PlanKey,
) -> schemas.Price:
    return await service.change_price(session, settings, key, body, actor(admin))
