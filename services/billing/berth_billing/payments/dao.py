"""Queries of payments, webhook events and refunds."""

import json
import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import select, text, update

from berth_billing.enums import PaymentStatus
from berth_billing.models import Payment, Refund, WebhookEvent
from berth_common.dao import BaseDAO

# Webhook statements over arrays: one SQL text (one prepared statement) whatever the count.
CLAIM_EVENTS = text(
    """
    INSERT INTO billing.webhook_events (provider, event_id, type, payload, outcome)
    SELECT :provider, e.event_id, e.type, CAST(e.payload AS jsonb), 'received'
    FROM unnest(CAST(:event_ids AS text[]), CAST(:types AS text[]), CAST(:payloads AS text[]))
         AS e(event_id, type, payload)
    ORDER BY e.event_id
    ON CONFLICT (provider, event_id) DO NOTHING
    RETURNING event_id, id
    """
)
LOCK_PAYMENTS = text(
    """
    SELECT id, account_id, provider, provider_payment_id, amount, currency, status
    FROM billing.payments
    WHERE provider = :p AND provider_payment_id = ANY(CAST(:ids AS text[]))
    ORDER BY id
    FOR UPDATE
    """
)
# each claimed event's outcome and payment, and the payments it completed, in one statement
SETTLE_EVENTS = text(
    """
    WITH completed AS (
        UPDATE billing.payments p
        SET status = c.status, failure_reason = c.reason, completed_at = :when
        FROM unnest(CAST(:payment_ids AS uuid[]), CAST(:statuses AS text[]),
                    CAST(:reasons AS text[])) AS c(id, status, reason)
        WHERE p.id = c.id
    )
    UPDATE billing.webhook_events w SET outcome = u.outcome, payment_id = u.payment_id
    FROM unnest(CAST(:ids AS uuid[]), CAST(:outcomes AS text[]), CAST(:payments AS uuid[]))
         AS u(id, outcome, payment_id)
    WHERE w.id = u.id
    """
)


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

    async def lock_by_provider_ids(self, provider: str, provider_ids: Sequence[str]) -> list[Any]:
        """These payments' rows, locked in id order (two batches never lock in a cycle)."""
        rows = await self.session.execute(LOCK_PAYMENTS, {"p": provider, "ids": list(provider_ids)})
        return list(rows.all())

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

    async def claim_many(self, provider: str, events: Sequence[Any]) -> dict[str, uuid.UUID]:
        """event id -> row id of the events arriving for the first time (a replay, or a
        second copy in `events`, is absent). Claimed in event id order: two batches holding
        copies of the same events queue on them rather than deadlock."""
        rows = await self.session.execute(
            CLAIM_EVENTS,
            {
                "provider": provider,
                "event_ids": [e.event_id for e in events],
                "types": [e.type for e in events],
                "payloads": [json.dumps(e.payload) for e in events],
            },
        )
        return {event_id: row_id for event_id, row_id in rows.all()}

    async def settle(
        self,
        outcomes: Sequence[tuple[uuid.UUID, str, uuid.UUID | None]],
        completed: Sequence[tuple[uuid.UUID, str, str | None]],
        when: datetime,
    ) -> None:
        """Record each claimed event's (row id, outcome, payment id or None) and set each
        completed payment's (id, final status, failure reason or None)."""
        if outcomes:
            await self.session.execute(
                SETTLE_EVENTS,
                {
                    "ids": [row_id for row_id, _, _ in outcomes],
                    "outcomes": [outcome for _, outcome, _ in outcomes],
                    "payments": [payment_id for _, _, payment_id in outcomes],
                    "payment_ids": [payment_id for payment_id, _, _ in completed],
                    "statuses": [status for _, status, _ in completed],
                    "reasons": [reason for _, _, reason in completed],
                    "when": when,
                },
            )


class RefundDAO(BaseDAO[Refund]):
    model = Refund
    default_sort = (Refund.created_at.desc(),)
