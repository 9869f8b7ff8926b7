"""Admin: account search and detail, an account's ledger, adjustments, metering runs."""

import uuid
from datetime import datetime
from typing import Annotated

from fastapi import Query, Request

from berth_billing import idempotency
from berth_billing.accounts import schemas as account_schemas
from berth_billing.accounts import service as accounts
from berth_billing.accounts.dao import AccountDAO
from berth_billing.admin import schemas, service
from berth_billing.deps import SettingsDep, actor
from berth_billing.enums import AccountFilter
from berth_billing.idempotency import IdempotencyHeader, IdempotencyKeyRequired
from berth_billing.metering import service as metering
from berth_billing.metering.dao import MeteringDAO
from berth_common.db import SessionDep
from berth_common.errors import NotFound, Unprocessable, error_responses
from berth_common.pagination import PageDep
from berth_common.routing import role_router
from berth_common.security import AdminUser

API = "/api/billing/v1/admin"

router = role_router("admin", prefix=API, tags=["admin"])


@router.get("/accounts", response_model=account_schemas.AccountPage)
async def search_accounts(
    session: SessionDep,
    settings: SettingsDep,
    params: PageDep,
    q: Annotated[
        str | None,
        Query(
            min_length=1,
            max_length=254,
            pattern=r"^[^\x00-\x1f\x7f%_\\]+$",
            description="email or user id contains",
        ),
    ] = None,
    status: AccountFilter | None = None,
) -> account_schemas.AccountPage:
    dao = AccountDAO(session)
    items, total = await dao.list(params, *dao.search_filters(q, status))
    return account_schemas.AccountPage.build(
        [await accounts.describe(session, settings, a) for a in items], total, params
    )


@router.get(
    "/accounts/{account_id}",
    response_model=account_schemas.Account,
    responses=error_responses(NotFound),
)
async def account_detail(account_id: uuid.UUID, session: SessionDep, settings: SettingsDep):
    return await accounts.describe(
        session, settings, await accounts.wallet_by_id(session, account_id)
    )


@router.get(
    "/accounts/{account_id}/ledger",
    response_model=account_schemas.LedgerEntryPage,
    responses=error_responses(NotFound, Unprocessable),
    description="Newest first; filter by entry kind and by a [from, to) time range.",
)
async def account_ledger(
    account_id: uuid.UUID,
    session: SessionDep,
    params: PageDep,
    query: Annotated[account_schemas.LedgerQuery, Query()],
) -> account_schemas.LedgerEntryPage:
    account = await accounts.wallet_by_id(session, account_id)
    return await accounts.ledger_page(session, account, query, params)


@router.post(
    "/accounts/{account_id}/adjustments",
    status_code=201,
    response_model=schemas.Adjustment,
    responses=error_responses(NotFound, Unprocessable, IdempotencyKeyRequired),
    description="Credit or debit a wallet with a reason. Requires an Idempotency-Key.",
)
async def adjust(
    account_id: uuid.UUID,
    body: schemas.AdjustmentCreate,
    request: Request,
    admin: AdminUser,
    session: SessionDep,
    settings: SettingsDep,
    idempotency_key: IdempotencyHeader = None,
):
    if not idempotency_key:
        raise IdempotencyKeyRequired("Adjustments need an Idempotency-Key header")
    scope = actor(admin)

    async def work():
        return await service.adjust(session, settings, account_id, body, scope)

    return await idempotency.once(
        session, scope=scope, key=idempotency_key, request=request, body=body, work=work
    )


@router.post(
    "/metering/runs",
    status_code=202,
    response_model=schemas.MeteringRunAccepted,
    responses=error_responses(Unprocessable),
    description="Charge (or re-charge) closed hours: one task per hour. An hour already "
    "charged is charged nothing twice.",
)
async def run_metering(
    body: schemas.MeteringRunCreate, admin: AdminUser, session: SessionDep
) -> schemas.MeteringRunAccepted:
    task_ids = await metering.enqueue_range(session, body.hour, body.hours, actor(admin), body.full)
    return schemas.MeteringRunAccepted(task_ids=task_ids)


@router.get("/metering/runs", response_model=list[schemas.MeteringRun])
async def metering_runs(
    session: SessionDep,
    hour: datetime | None = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> list[schemas.MeteringRun]:
    runs = await MeteringDAO(session).recent_runs(hour, limit)
    return [schemas.MeteringRun.model_validate(r) for r in runs]
