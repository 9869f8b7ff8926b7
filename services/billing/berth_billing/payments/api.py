"""Payments: my payments and top-ups, the sandbox checkout page, the provider webhook,
and the admins' payment browsing and refunds."""

import uuid
from datetime import datetime
from typing import Annotated

from fastapi import Depends, Form, Query, Request
from fastapi.responses import HTMLResponse

from berth_billing import idempotency
from berth_billing.deps import SettingsDep, actor
from berth_billing.enums import CheckoutDecision, PaymentStatus
from berth_billing.idempotency import IdempotencyHeader, IdempotencyKeyRequired
from berth_billing.models import Payment
from berth_billing.payments import checkout_page as checkout_page_html
from berth_billing.payments import schemas, service
from berth_billing.payments.batcher import WebhookBatcher
from berth_billing.payments.dao import PaymentDAO
from berth_billing.payments.provider import InvalidSignature, SandboxProvider
from berth_common.db import SessionDep
from berth_common.errors import (
    Conflict,
    NotFound,
    Unprocessable,
    error_responses,
)
from berth_common.pagination import PageDep
from berth_common.routing import public_router, role_router, user_router
from berth_common.security import AdminUser, CurrentUser, CurrentUserId

API = "/api/billing/v1"


def _provider(request: Request) -> SandboxProvider:
    return request.app.state.payment_provider


ProviderDep = Annotated[SandboxProvider, Depends(_provider)]

router = user_router(prefix=API, tags=["payments"])


def _payment_out(payment: Payment) -> schemas.Payment:
    out = schemas.Payment.model_validate(payment)
    if not service.checkout_is_open(payment):
        out.checkout_url = None
    return out


@router.get("/payments", response_model=schemas.PaymentPage)
async def my_payments(
    owner_id: CurrentUserId,
    session: SessionDep,
    params: PageDep,
    status: PaymentStatus | None = None,
) -> schemas.PaymentPage:
    dao = PaymentDAO(session)
    items, total = await dao.list(params, *dao.filters(owner_id=owner_id, status=status))
    return schemas.PaymentPage.build([_payment_out(p) for p in items], total, params)


@router.get(
    "/payments/{payment_id}", response_model=schemas.Payment, responses=error_responses(NotFound)
)
async def my_payment(payment_id: uuid.UUID, owner_id: CurrentUserId, session: SessionDep):
    return _payment_out(await service.payment_of(session, owner_id, payment_id))


@router.post(
    "/topups",
    status_code=201,
    response_model=schemas.Payment,
    responses=error_responses(Unprocessable, Conflict),
    description="Start a top-up: a pending payment and the provider's checkout URL. "
    "Send an Idempotency-Key to make a retry return the same payment.",
)
async def create_topup(
    body: schemas.TopUpCreate,
    request: Request,
    principal: CurrentUser,
    owner_id: CurrentUserId,
    session: SessionDep,
    settings: SettingsDep,
    provider: ProviderDep,
    idempotency_key: IdempotencyHeader = None,
):
    async def work():
        payment = await service.create_topup(
            session,
            settings,
            provider,
            owner_id=owner_id,
            amount=body.amount,
            currency=body.currency,
        )
        return _payment_out(payment)

    return await idempotency.once(
        session,
        scope=f"user:{owner_id}",
        key=idempotency_key,
        request=request,
        body=body,
        work=work,
    )


@router.get(
    "/sandbox/checkout/{token}",
    response_class=HTMLResponse,
    responses=error_responses(NotFound),
    include_in_schema=False,
)
async def checkout_page(
    token: str, owner_id: CurrentUserId, session: SessionDep, provider: ProviderDep
) -> HTMLResponse:
    payment = await service.checkout_payment(session, provider, token, owner_id)
    return HTMLResponse(checkout_page_html.render(payment, _checkout_action(token)))


@router.post(
    "/sandbox/checkout/{token}",
    response_class=HTMLResponse,
    responses=error_responses(NotFound, Conflict, Unprocessable),
    include_in_schema=False,
)
async def checkout_decide(
    token: str,
    decision: Annotated[CheckoutDecision, Form()],
    owner_id: CurrentUserId,
    session: SessionDep,
    provider: ProviderDep,
) -> HTMLResponse:
    payment = await service.decide_checkout(session, provider, token, owner_id, decision)
    return HTMLResponse(checkout_page_html.render(payment, _checkout_action(token), decision))


def _checkout_action(token: str) -> str:
    return f"{API}/sandbox/checkout/{token}"


# The provider calls this without a token: the signature is the authentication.
webhook_router = public_router(prefix=API, tags=["webhooks"])


@webhook_router.post(
    "/webhooks/sandbox",
    response_model=schemas.WebhookAck,
    responses=error_responses(InvalidSignature),
)
async def sandbox_webhook(request: Request, provider: ProviderDep) -> schemas.WebhookAck:
    # verified alone; applied with the deliveries arriving with it, answered once committed
    event = provider.parse_webhook(dict(request.headers), await request.body())
    batcher: WebhookBatcher = request.app.state.webhook_batcher
    return schemas.WebhookAck(outcome=await batcher.submit(event))


admin_router = role_router("admin", prefix=f"{API}/admin/payments", tags=["admin"])


@admin_router.get("", response_model=schemas.AdminPaymentPage)
async def browse_payments(
    session: SessionDep,
    params: PageDep,
    account_id: uuid.UUID | None = None,
    owner_id: uuid.UUID | None = None,
    status: PaymentStatus | None = None,
    provider: Annotated[str | None, Query(max_length=32)] = None,
    since: Annotated[datetime | None, Query(alias="from")] = None,
    until: Annotated[datetime | None, Query(alias="to")] = None,
) -> schemas.AdminPaymentPage:
    dao = PaymentDAO(session)
    where = dao.filters(
        account_id=account_id,
        owner_id=owner_id,
        status=status,
        provider=provider,
        since=since,
        until=until,
    )
    items, total = await dao.list(params, *where)
    return schemas.AdminPaymentPage.build(
        [schemas.AdminPayment.model_validate(p) for p in items], total, params
    )


@admin_router.post(
    "/{payment_id}/refunds",
    status_code=201,
    response_model=schemas.Refund,
    responses=error_responses(NotFound, Conflict, Unprocessable, IdempotencyKeyRequired),
    description="Refund all or part of a succeeded payment. Requires an Idempotency-Key.",
)
async def refund_payment(
    payment_id: uuid.UUID,
    body: schemas.RefundCreate,
    request: Request,
    admin: AdminUser,
    session: SessionDep,
    settings: SettingsDep,
    provider: ProviderDep,
    idempotency_key: IdempotencyHeader = None,
):
    if not idempotency_key:
        raise IdempotencyKeyRequired("Refunds need an Idempotency-Key header")
    scope = actor(admin)

    async def work():
        refund = await service.refund(
            session,
            settings,
            provider,
            payment_id=payment_id,
            amount=body.amount,
            reason=body.reason,
            caused_by=scope,
        )
        return schemas.Refund.model_validate(refund)

    return await idempotency.once(
        session, scope=scope, key=idempotency_key, request=request, body=body, work=work
    )
