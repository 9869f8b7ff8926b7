"""The signed-in person's wallet: balance and state, movements, daily spend."""

import uuid
from typing import Annotated

from fastapi import Depends, Query

from berth_billing.accounts import schemas, service
from berth_billing.deps import SettingsDep
from berth_billing.models import Account
from berth_billing.tiers import schemas as tier_schemas
from berth_billing.tiers import service as tiers
from berth_common.db import SessionDep
from berth_common.errors import (
    Forbidden,
    NotFound,
    Unprocessable,
    error_responses,
)
from berth_common.pagination import PageDep
from berth_common.routing import guarded_router, user_router
from berth_common.security import CurrentUserId, Principal, PrincipalKind, require_scope

router = user_router(prefix="/api/billing/v1/account", tags=["account"])


async def _my_wallet(
    owner_id: CurrentUserId, session: SessionDep, settings: SettingsDep
) -> Account:
    return await service.wallet(session, settings, owner_id)


# the signed-in person's wallet, opened on first use
MyWallet = Annotated[Account, Depends(_my_wallet)]
TimeRange = Annotated[schemas.RangeQuery, Query()]


@router.get("", response_model=schemas.Account)
async def my_account(
    account: MyWallet, session: SessionDep, settings: SettingsDep
) -> schemas.Account:
    return await service.describe(session, settings, account)


@router.get(
    "/ledger",
    response_model=schemas.LedgerEntryPage,
    responses=error_responses(Unprocessable),
    description="Newest first; filter by entry kind and by a [from, to) time range.",
)
async def my_ledger(
    account: MyWallet,
    session: SessionDep,
    params: PageDep,
    query: Annotated[schemas.LedgerQuery, Query()],
) -> schemas.LedgerEntryPage:
    return await service.ledger_page(session, account, query, params)


@router.get("/usage", response_model=schemas.UsageSeries)
async def my_usage(
    account: MyWallet, session: SessionDep, days: Annotated[int, Query(ge=1, le=366)] = 30
) -> schemas.UsageSeries:
    return await service.usage_series(session, account, days)


@router.get(
    "/usage/charges",
    response_model=schemas.UsageChargePage,
    responses=error_responses(Unprocessable),
    description="What each instance cost per hour (the detail of the usage entries), newest "
    "hour first; filter by a [from, to) range of hours.",
)
async def my_usage_charges(
    account: MyWallet, session: SessionDep, params: PageDep, hours: TimeRange
) -> schemas.UsageChargePage:
    return await service.usage_charges_page(session, account, hours, params)


async def _account_reader(
    principal: Annotated[Principal, Depends(require_scope("billing:read"))],
) -> Principal:
    if principal.kind == PrincipalKind.USER and not principal.has_role("admin", "support"):
        raise Forbidden("Requires role: admin or support")
    return principal


# other services (e.g. deploy before starting an app) read a user's billing state
services_router = guarded_router(
    _account_reader, prefix="/api/billing/v1/accounts", tags=["accounts"]
)


@services_router.get(
    "/by-owner/{owner_id}",
    response_model=schemas.Account,
    responses=error_responses(NotFound),
)
async def account_of_owner(
    owner_id: uuid.UUID, session: SessionDep, settings: SettingsDep
) -> schemas.Account:
    return await service.describe(
        session, settings, await service.existing_wallet(session, owner_id)
    )


@services_router.get(
    "/by-owner/{owner_id}/tier",
    response_model=tier_schemas.AccountTier,
    responses=error_responses(NotFound),
    description="The owner's service tier and when it last changed (billing:read).",
)
async def tier_of_owner(owner_id: uuid.UUID, session: SessionDep) -> tier_schemas.AccountTier:
    return await tiers.tier_of_owner(session, owner_id)
