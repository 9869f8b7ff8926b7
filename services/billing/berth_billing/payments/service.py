"""Top-ups through a payment provider, webhook handling (see payments/webhooks.py),
refunds."""

import uuid

import httpx
from loguru import logger
from sqlalchemy.ext.asyncio import AsyncSession

from berth_billing.accounts.dao import AccountDAO
from berth_billing.config import BillingSettings
from berth_billing.dunning import service as dunning
from berth_billing.enums import CheckoutDecision, EntryKind, PaymentStatus
from berth_billing.ledger.service import Leg, post
from berth_billing.models import Payment, Refund
from berth_billing.names import QUEUE, Task
from berth_billing.payments import webhooks
from berth_billing.payments.dao import PaymentDAO, RefundDAO
from berth_billing.payments.provider import (
    FAILED,
    SIGNATURE_HEADER,
    SUCCEEDED,
    SandboxProvider,
)
from berth_common.errors import BerthError, Conflict, NotFound, TransientError, Unprocessable
from berth_common.outbox import enqueue_task


class CurrencyMismatch(BerthError):
    status_code = 422
    code = "currency_mismatch"


class AmountOutOfRange(BerthError):
    status_code = 422
    code = "amount_out_of_range"


def check_currency(settings: BillingSettings, currency: str | None) -> None:
    if currency is not None and currency.upper() != settings.currency:
        raise CurrencyMismatch(
            f"This installation bills in {settings.currency}",
            details={"currency": settings.currency},
        )


async def create_topup(
    session: AsyncSession,
    settings: BillingSettings,
    provider: SandboxProvider,
    *,
    owner_id: uuid.UUID,
    amount: int,
    currency: str | None,
) -> Payment:
    check_currency(settings, currency)
    if not settings.min_topup <= amount <= settings.max_topup:
        raise AmountOutOfRange(
            "The top-up amount is out of range",
            details={"min": settings.min_topup, "max": settings.max_topup},
        )
    wallet = await AccountDAO(session).ensure_wallet(owner_id, settings.currency)
    payment = await PaymentDAO(session).create(
        id=uuid.uuid4(),
        account_id=wallet.id,
        owner_id=owner_id,
        provider=provider.name,
        provider_payment_id=provider.new_payment_id(),
        amount=amount,
        currency=settings.currency,
        status=PaymentStatus.PENDING,
    )
    payment.checkout_url = provider.checkout_url(payment.id)
    await session.flush()
    return payment


async def payment_of(session: AsyncSession, owner_id: uuid.UUID, payment_id: uuid.UUID) -> Payment:
    """The holder's own payment; someone else's is as unknown as a missing one."""
    payment = await PaymentDAO(session).get(payment_id)
    if payment is None or payment.owner_id != owner_id:
        raise NotFound("Payment not found")
    return payment


def checkout_is_open(payment: Payment) -> bool:
    """A checkout link works until its single decision is taken or the payment completes."""
    return payment.status == PaymentStatus.PENDING and not payment.checkout_decision


async def checkout_payment(
    session: AsyncSession, provider: SandboxProvider, token: str, owner_id: uuid.UUID
) -> Payment:
    """The payment a checkout link is for; someone else's is as unknown as a forged one."""
    payment = await PaymentDAO(session).get(provider.payment_of_token(token))
    if payment is None or payment.owner_id != owner_id:
        raise NotFound("This checkout link is invalid or has expired")
    return payment


async def decide_checkout(
    session: AsyncSession,
    provider: SandboxProvider,
    token: str,
    owner_id: uuid.UUID,
    decision: str,
) -> Payment:
    """Pay or decline on the sandbox page: the sandbox "bank" then sends its webhook."""
    payment = await checkout_payment(session, provider, token, owner_id)
    if not await PaymentDAO(session).take_checkout_decision(payment.id, decision):
        raise Conflict("This checkout was already completed")
    await enqueue_task(
        session,
        Task.DELIVER_WEBHOOK,
        queue=QUEUE,
        kwargs={
            "payment_id": str(payment.id),
            "event_id": f"evt_{uuid.uuid4().hex}",
            "outcome": SUCCEEDED if decision == CheckoutDecision.PAY else FAILED,
        },
    )
    await session.refresh(payment)
    return payment


async def handle_webhook(
    session: AsyncSession,
    settings: BillingSettings,
    provider: SandboxProvider,
    headers: dict[str, str],
    body: bytes,
) -> str:
    """Verify, claim and apply one provider event; returns what became of it."""
    event = provider.parse_webhook(headers, body)
    return (await webhooks.apply_events(session, settings, provider.name, [event]))[0]


async def refund(
    session: AsyncSession,
    settings: BillingSettings,
    provider: SandboxProvider,
    *,
    payment_id: uuid.UUID,
    amount: int | None,
    reason: str,
    caused_by: str,
) -> Refund:
    """Refund all (amount None) or part of a succeeded payment; never more than was paid."""
    payments = PaymentDAO(session)
    payment = await payments.for_update(payment_id)
    if payment is None:
        raise NotFound("Payment not found")
    if payment.status != PaymentStatus.SUCCEEDED:
        raise Conflict("Only a succeeded payment can be refunded")
    refundable = payment.amount - payment.refunded_amount
    amount = refundable if amount is None else amount
    if amount <= 0 or amount > refundable:
        raise Unprocessable(
            "The refund amount exceeds what is left to refund",
            code="amount_out_of_range",
            details={"refundable": refundable},
        )
    await provider.refund(payment.provider_payment_id, amount)
    refund_id = uuid.uuid4()
    clearing = (await webhooks.clearing_accounts(session, settings, [payment]))[payment.id]
    txn_id = await post(
        session,
        kind=EntryKind.REFUND,
        key=f"refund:{refund_id}",
        description=f"Refund of payment {payment.provider_payment_id}: {reason}",
        caused_by=caused_by,
        currency=payment.currency,
        legs=[Leg(payment.account_id, -amount), Leg(clearing, amount)],
    )
    payment.refunded_amount += amount
    created = await RefundDAO(session).create(
        id=refund_id,
        payment_id=payment.id,
        amount=amount,
        currency=payment.currency,
        reason=reason,
        created_by=caused_by,
        transaction_id=txn_id,
    )
    await dunning.check_accounts(session, settings, [payment.account_id])
    return created


async def deliver_sandbox_webhook(
    session: AsyncSession,
    settings: BillingSettings,
    provider: SandboxProvider,
    http: httpx.AsyncClient,
    *,
    payment_id: uuid.UUID,
    event_id: str,
    outcome: str,
) -> int:
    """The sandbox bank's side: sign the event and post it to the public webhook URL.

    Raises TransientError for anything but a 2xx, so the task retries like a provider would.
    """
    payment = await PaymentDAO(session).get(payment_id)
    if payment is None:
        logger.warning("sandbox webhook for unknown payment {}", payment_id)
        return 0
    body = provider.event_body(
        event_id=event_id,
        type_=outcome,
        provider_payment_id=payment.provider_payment_id,
        amount=payment.amount,
        currency=payment.currency,
    )
    try:
        resp = await http.post(
            settings.webhook_url,
            content=body,
            headers={"Content-Type": "application/json", SIGNATURE_HEADER: provider.sign(body)},
        )
    except httpx.HTTPError as exc:
        raise TransientError(f"webhook endpoint unreachable: {type(exc).__name__}") from exc
    if resp.status_code >= 300:
        raise TransientError(f"webhook endpoint answered {resp.status_code}")
    return resp.status_code
