"""Tickets' emails: notifications of a ticket (berth_common.mail stores and sends them)."""

import uuid
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from berth_common import mail
from berth_tickets.config import TicketsSettings
from berth_tickets.models import OutgoingEmail
from berth_tickets.names import QUEUE


class OutgoingEmailDAO(mail.OutgoingEmailDAO[OutgoingEmail]):
    model = OutgoingEmail

    async def by_notification_key(self, key: str) -> OutgoingEmail | None:
        return await self.get_by(notification_key=key)


def _thread_headers(email: OutgoingEmail, domain: str) -> dict[str, str]:
    """Every mail of a ticket answers the same thread root `<ticket-<id>@domain>`, so mail
    readers keep one thread per ticket."""
    if email.ticket_id is None:
        return {}
    root = f"<ticket-{email.ticket_id}@{domain}>"
    return {"In-Reply-To": root, "References": root}


TEMPLATES = ("ticket_notice",)
MAILER = mail.Mailer(
    service=QUEUE,
    dao=OutgoingEmailDAO,
    templates=mail.Templates("berth_tickets", TEMPLATES),
    thread_headers=_thread_headers,
)


async def queue_email(
    session: AsyncSession,
    settings: TicketsSettings,
    template: str,
    context: dict[str, Any],
    **columns: Any,
) -> uuid.UUID:
    """context: the template's plain-text values (the subject refuses line breaks);
    columns: notification_key, ticket_id, recipient_id and/or to_address, reply_to."""
    email = await MAILER.queue(session, settings.issuer, template, context, **columns)
    return email.id


async def send_outgoing_email(
    session: AsyncSession,
    settings: TicketsSettings,
    email_id: uuid.UUID,
    find_recipient: mail.RecipientFinder | None = None,
) -> str:
    return await MAILER.send(session, settings, email_id, find_recipient)
