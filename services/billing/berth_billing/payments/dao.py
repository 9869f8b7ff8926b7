"""Queries of payments, webhook events and refunds."""

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert

from berth_billing.enums import PaymentStatus
from berth_billing.models import Payment, Refund, WebhookEvent
from berth_common.dao import BaseDAO


class PaymentDAO(BaseDAO[Payment]):
    model = Payment
    not_found_message = "Payment not found"
    sortable = {"created_at": Payment.created_at, "amount": Payment.amount}
    default_sort = (Payment.created_at.desc(), Payment.id)

    async def for_update(self, payment_id: uuid.UUID) -> Payment | None:
        stmt = select(Payment).where(Payment.id == payment_id).with_for_update()
        return (await self.session.execute(stmt)).scalars().first()

    async def by_provider_id_for_update(self, provider: str, provider_payment_id: str):
        stmt = (
            select(Payment)
            .where(Payment.provider == provider, Payment.provider_payment_id == provider_payment_id)
            .with_for_update()
        )
        return (await self.session.execute(stmt)).scalars().first()

    async def take_checkout_decision(self, payment_id: uuid.UUID, decision: str) -> bool:
        """Single use: only the first decision on a pending payment counts."""
        taken = await self.session.execute(
            update(Payment)
            .where(
                Payment.id == payment_id,
                Payment.checkout_decision.is_(None),
                Payment.status == PaymentStatus.PENDING,
            )
            .values(checkout_decision=decision)
            .returning(Payment.id)
        )
        return taken.first() is not None

    @staticmethod
    def filters(
        *,
        account_id: uuid.UUID | None = None,
        owner_id: uuid.UUID | None = None,
        status: str | None = None,
        provider: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> list[Any]:
        where: list[Any] = []
        if account_id:
            where.append(Payment.account_id == account_id)
        if owner_id:
            where.append(Payment.owner_id == owner_id)
        if status:
            where.append(Payment.status == status)
        if provider:
            where.append(Payment.provider == provider)
        if since:
            where.append(Payment.created_at >= since)
        if until:
            where.append(Payment.created_at < until)
        return where


class WebhookEventDAO(BaseDAO[WebhookEvent]):
    model = WebhookEvent

    async def claim(
        self, provider: str, event_id: str, type_: str, payload: dict[str, Any]
    ) -> uuid.UUID | None:
        """The row's id the first time (provider, event id) arrives; None for a replay."""
        return (
            await self.session.execute(
                pg_insert(WebhookEvent)
                .values(
                    provider=provider,
                    event_id=event_id,
                    type=type_,
                    payload=payload,
                    outcome="received",
                )
                .on_conflict_do_nothing(index_elements=["provider", "event_id"])
                .returning(WebhookEvent.id)
            )
        ).scalar_one_or_none()


class RefundDAO(BaseDAO[Refund]):
    model = Refund
    default_sort = (Refund.created_at.desc(),)
