"""Notifications of the desk: one outgoing email per (kind, subject of it), in the caller's
transaction, sent once by berth_common.mail's guarded task through the outbox.

`notify(session, ticket, kind, ...)` is the one entry point the ticket flows call. This
version stores a plain-text notice addressed to a person by id (the send task asks auth for
the address); the mail module of tickets (`tickets-mail`) owns the content, the signed reply
address and the inbound side. What a notice quotes is always a public message: internal
notes are not an argument here and are never read by this module.
"""

import uuid
from typing import Any

from loguru import logger
from sqlalchemy.ext.asyncio import AsyncSession

from berth_tickets import mail
from berth_tickets.config import TicketsSettings
from berth_tickets.enums import NotificationKind
from berth_tickets.models import Ticket
from berth_tickets.numbers import display_number

HEADLINES = {
    NotificationKind.TICKET_OPENED: "We have your request and will answer soon.",
    NotificationKind.STAFF_REPLIED: "Support answered your ticket.",
    NotificationKind.CUSTOMER_REPLIED: "The customer wrote on a ticket assigned to you.",
    NotificationKind.ASSIGNED: "A ticket was assigned to you.",
    NotificationKind.SLA_BREACHED: "A ticket assigned to you is past its SLA.",
    NotificationKind.AUTO_CLOSED: "Your ticket was closed after waiting for your answer.",
}
#: what staff open (the staff pages); customers open the panel's page of the ticket
STAFF_KINDS = frozenset(
    {NotificationKind.CUSTOMER_REPLIED, NotificationKind.ASSIGNED, NotificationKind.SLA_BREACHED}
)
DETAIL_MAX = 4000


def ticket_link(settings: TicketsSettings, ticket: Ticket, kind: NotificationKind) -> str:
    base = settings.issuer
    if kind in STAFF_KINDS:
        return f"{base}/staff/tickets/{ticket.id}"
    return f"{base}/panel/tickets/{ticket.id}"


async def notify(
    session: AsyncSession,
    ticket: Ticket,
    kind: NotificationKind,
    *,
    settings: TicketsSettings,
    recipient_id: uuid.UUID,
    key: str,
    detail: str = "",
    extra: dict[str, Any] | None = None,
) -> uuid.UUID | None:
    """Queue one notice to `recipient_id` about `ticket`; `key` names what it is about (e.g.
    the message id) so the same notice is never queued twice. None when it already was."""
    notification_key = f"{kind}:{key}:{recipient_id}"
    if await mail.OutgoingEmailDAO(session).by_notification_key(notification_key) is not None:
        logger.info("notification {} already queued", notification_key)
        return None
    context = {
        "ticket_number": display_number(ticket.number),
        "subject": " ".join(ticket.subject.split()),  # never a line break in a header
        "headline": HEADLINES[kind],
        "detail": detail[:DETAIL_MAX],
        "link": ticket_link(settings, ticket, kind),
        **(extra or {}),
    }
    return await mail.queue_email(
        session,
        settings,
        "ticket_notice",
        context,
        notification_key=notification_key,
        ticket_id=ticket.id,
        recipient_id=recipient_id,
    )
