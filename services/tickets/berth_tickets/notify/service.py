"""Notifications of the desk: one outgoing email per (kind, what it is about, recipient),
written in the caller's transaction and sent once by berth_common.mail's guarded task.

Invariants:
- A notification exists once: its `notification_key` is unique in outgoing_emails; a second
  `notify` with the same key is a no-op (even when two transactions race: a savepoint).
- What an email quotes is a public message's body, passed in by the flow that wrote it.
  Internal notes are not an argument of anything here and are never read by this package.
- Mail to a customer carries the ticket's signed reply address (Reply-To); mail to staff
  does not (staff answer in their screens). Every mail is threaded per ticket
  (In-Reply-To/References `<ticket-<id>@domain>`) and says `Auto-Submitted: auto-replied`.
- Plain text only: no HTML part, so no markup a customer wrote can run in a mail reader.
"""

import uuid
from typing import Any

from loguru import logger
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from berth_tickets import mail
from berth_tickets.config import TicketsSettings
from berth_tickets.enums import CUSTOMER_NOTIFICATIONS, NotificationKind
from berth_tickets.models import Ticket
from berth_tickets.notify.tokens import reply_address
from berth_tickets.numbers import display_number

HEADLINES = {
    NotificationKind.TICKET_OPENED: "We have your request and will answer soon.",
    NotificationKind.STAFF_REPLIED: "Support answered your ticket.",
    NotificationKind.CUSTOMER_REPLIED: "The customer wrote on a ticket assigned to you.",
    NotificationKind.ASSIGNED: "A ticket was assigned to you.",
    NotificationKind.SLA_BREACHED: "A ticket assigned to you is past its SLA.",
    NotificationKind.AUTO_CLOSED: "Your ticket was closed after waiting for your answer.",
    NotificationKind.CLOSED: "Your ticket was closed.",
    NotificationKind.MERGED: "Your ticket was merged into another one; the thread goes on there.",
}
DETAIL_MAX = 4000
KEY_MAX = 200


def ticket_link(settings: TicketsSettings, ticket: Ticket, kind: NotificationKind) -> str:
    if kind in CUSTOMER_NOTIFICATIONS:
        return f"{settings.issuer}/panel/tickets/{ticket.id}"
    return f"{settings.issuer}/staff/tickets/{ticket.id}"


def _one_line(text: str) -> str:
    return " ".join(text.split())


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
    """Queue one notice to `recipient_id` about `ticket`; `key` names what it is about (the
    message id, the breach window...). `detail` is a public message's text, never a note's.
    None when this notice was queued before."""
    notification_key = f"{kind}:{key}:{recipient_id}"[:KEY_MAX]
    if await mail.OutgoingEmailDAO(session).by_notification_key(notification_key) is not None:
        logger.info("notification {} already queued", notification_key)
        return None
    reply_to = None
    if kind in CUSTOMER_NOTIFICATIONS:
        reply_to = reply_address(settings, ticket.number, ticket.reply_token_version)
    hint = "Reply to this email to answer on the ticket.\n" if reply_to else ""
    context = {
        "ticket_number": display_number(ticket.number),
        "subject": _one_line(ticket.subject),  # never a line break in a header
        "headline": HEADLINES[kind],
        "detail": detail[:DETAIL_MAX],
        "link": ticket_link(settings, ticket, kind),
        "reply_hint": hint,
        **(extra or {}),
    }
    try:
        async with session.begin_nested():
            return await mail.queue_email(
                session,
                settings,
                "ticket_notice",
                context,
                notification_key=notification_key,
                ticket_id=ticket.id,
                recipient_id=recipient_id,
                reply_to=reply_to,
            )
    except IntegrityError:  # another transaction queued the same notice first
        logger.info("notification {} queued concurrently", notification_key)
        return None
