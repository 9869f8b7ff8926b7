"""Provider events applied set-based: a batch of verified events in a fixed number of
statements, whatever its size (one event is a batch of one).

Crediting happens exactly once per payment: an event is claimed by its unique
(provider, event id), the payments are locked, and each top-up's journal transaction key
"payment:<id>" is unique. The statements, in order: claim the events, lock their payments,
post every credit (one statement; the trigger checks and books them), record each event's
outcome and set the payments' final status (one statement), re-arm and lift the credited
wallets' dunning.
"""

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from loguru import logger
from sqlalchemy.ext.asyncio import AsyncSession

from berth_billing.accounts.dao import AccountDAO
from berth_billing.config import BillingSettings
from berth_billing.dunning import service as dunning
from berth_billing.enums import AccountKind, EntryKind, PaymentStatus
from berth_billing.ledger.service import Leg, Posting, post_many
from berth_billing.payments.dao import PaymentDAO, WebhookEventDAO
from berth_billing.payments.provider import FAILED, SUCCEEDED, ProviderEvent


async def clearing_accounts(
    session: AsyncSession, settings: BillingSettings, payments: Sequence[Any]
) -> dict[uuid.UUID, uuid.UUID]:
    """payment id -> its provider clearing shard, picked by the payment's id; its refunds go
    to the same one (while BILLING_CLEARING_SHARDS stays): the account's balance is the sum
    of its shards."""
    accounts = AccountDAO(session)
    found: dict[uuid.UUID, uuid.UUID] = {}
    for currency in {p.currency for p in payments}:
        mine = [p for p in payments if p.currency == currency]
        shards = {p.id: p.id.int % settings.clearing_shards for p in mine}
        ids = await accounts.system_accounts(
            AccountKind.PROVIDER_CLEARING, currency, set(shards.values())
        )
        found |= {payment_id: ids[shard] for payment_id, shard in shards.items()}
    return found


def _decide(event: ProviderEvent, payment: Any, status: str) -> str:
    """What an event does to its payment, whose status is `status` by now."""
    if payment is None:
        return "unknown_payment"
    if event.amount != payment.amount or event.currency != payment.currency:
        logger.warning("webhook for payment {} does not match its amount", payment.id)
        return "amount_mismatch"
    if status != PaymentStatus.PENDING:
        return f"already_{status}"
    if event.type == FAILED:
        return "failed"
    if event.type != SUCCEEDED:
        return "ignored"
    return "credited"


async def apply_events(
    session: AsyncSession,
    settings: BillingSettings,
    provider: str,
    events: Sequence[ProviderEvent],
) -> list[str]:
    """Claim and apply verified events of `provider`; what became of each, in order
    ("duplicate" for one claimed before, or earlier in `events`)."""
    claimed = await WebhookEventDAO(session).claim_many(provider, events)
    wanted = sorted({e.provider_payment_id for e in events if e.event_id in claimed})
    payments = {
        row.provider_payment_id: row
        for row in await PaymentDAO(session).lock_by_provider_ids(provider, wanted)
    }
    status = {row.id: row.status for row in payments.values()}
    outcomes: list[str] = []
    recorded: list[tuple[uuid.UUID, str, uuid.UUID | None]] = []
    completed: list[tuple[uuid.UUID, str, str | None]] = []
    credited: list[Any] = []
    for event in events:
        row_id = claimed.pop(event.event_id, None)
        if row_id is None:
            outcomes.append("duplicate")
            continue
        payment = payments.get(event.provider_payment_id)
        outcome = _decide(event, payment, status[payment.id] if payment else "")
        if outcome == "failed":
            status[payment.id] = PaymentStatus.FAILED
            completed.append((payment.id, PaymentStatus.FAILED, "declined"))
        elif outcome == "credited":
            status[payment.id] = PaymentStatus.SUCCEEDED
            completed.append((payment.id, PaymentStatus.SUCCEEDED, None))
            credited.append(payment)
        recorded.append((row_id, outcome, payment.id if payment else None))
        outcomes.append(outcome)
    await _credit(session, settings, credited)
    await WebhookEventDAO(session).settle(recorded, completed, datetime.now(UTC))
    await dunning.after_credit(session, settings, sorted({p.account_id for p in credited}))
    if recorded:
        logger.info("webhooks of {}: {}", provider, ", ".join(o for _, o, _ in recorded))
    return outcomes


async def _credit(session: AsyncSession, settings: BillingSettings, payments: list[Any]) -> None:
    """Each payment's top-up: its wallet credited, its clearing shard debited."""
    if not payments:
        return
    clearing = await clearing_accounts(session, settings, payments)
    await post_many(
        session,
        [
            Posting(
                kind=EntryKind.TOPUP,
                key=f"payment:{p.id}",
                description=f"Top-up by {p.provider} payment {p.provider_payment_id}",
                caused_by=f"provider:{p.provider}",
                currency=p.currency,
                legs=[Leg(p.account_id, p.amount), Leg(clearing[p.id], -p.amount)],
            )
            for p in payments
        ],
    )
