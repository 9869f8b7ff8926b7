"""Admin: the tiers on offer, an account's tier and its history of changes."""

import uuid

from berth_billing.accounts.service import wallet_by_id
from berth_billing.deps import SettingsDep, actor
from berth_billing.tiers import schemas, service
from berth_billing.tiers.dao import TierChangeDAO
from berth_billing.tiers.models import AccountTierChange
from berth_common.db import SessionDep
from berth_common.errors import NotFound, Unprocessable, error_responses
from berth_common.pagination import PageDep
from berth_common.routing import role_router
from berth_common.security import AdminUser
from berth_common.tiers import DEFAULT_TIER

API = "/api/billing/v1/admin"

admin_router = role_router("admin", prefix=API, tags=["admin"])


@admin_router.get("/account-tiers", response_model=schemas.TierList)
async def tiers_on_offer(settings: SettingsDep) -> schemas.TierList:
    return schemas.TierList(tiers=settings.account_tiers, default=DEFAULT_TIER)


@admin_router.get(
    "/accounts/{account_id}/tier",
    response_model=schemas.AccountTier,
    responses=error_responses(NotFound),
)
async def account_tier(account_id: uuid.UUID, session: SessionDep) -> schemas.AccountTier:
    return await service.tier_of_account(session, await wallet_by_id(session, account_id))


@admin_router.put(
    "/accounts/{account_id}/tier",
    response_model=schemas.TierChanged,
    responses=error_responses(NotFound, Unprocessable, service.UnknownTier),
    description="Move the account to one of the tiers on offer (BILLING_ACCOUNT_TIERS). The "
    "change is recorded and announced as `billing.account.tier_changed`; setting the tier it "
    "already has changes nothing (`changed: false`). Open tickets keep the SLA they started "
    "with.",
)
async def set_account_tier(
    account_id: uuid.UUID,
    body: schemas.TierUpdate,
    admin: AdminUser,
    session: SessionDep,
    settings: SettingsDep,
) -> schemas.TierChanged:
    return await service.set_tier(session, settings, account_id, body, actor(admin))


@admin_router.get(
    "/accounts/{account_id}/tier-changes",
    response_model=schemas.TierChangePage,
    responses=error_responses(NotFound),
    description="Newest first: who changed the account's tier, when, from what to what.",
)
async def tier_changes(
    account_id: uuid.UUID, session: SessionDep, params: PageDep
) -> schemas.TierChangePage:
    account = await wallet_by_id(session, account_id)
    items, total = await TierChangeDAO(session).list(
        params, AccountTierChange.account_id == account.id
    )
    return schemas.TierChangePage.build(
        [schemas.TierChange.model_validate(i) for i in items], total, params
    )
