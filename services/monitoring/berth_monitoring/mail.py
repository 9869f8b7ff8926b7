"""Monitoring's emails: an email channel's alerts (berth_common.mail sends them)."""

import uuid
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from berth_common import mail
from berth_monitoring.config import MonitoringSettings
from berth_monitoring.models import OutgoingEmail
from berth_monitoring.names import QUEUE


class OutgoingEmailDAO(mail.OutgoingEmailDAO[OutgoingEmail]):
    model = OutgoingEmail


TEMPLATES = ("alert",)
MAILER = mail.Mailer(
    service=QUEUE, dao=OutgoingEmailDAO, templates=mail.Templates("berth_monitoring", TEMPLATES)
)


async def queue_alert_email(
    session: AsyncSession,
    settings: MonitoringSettings,
    *,
    to_address: str,
    context: dict[str, Any],
    notification_id: uuid.UUID | None = None,
) -> uuid.UUID:
    """context: event, subject, headline, detail, link (plain text; the template escapes
    nothing because it is text, and the subject refuses line breaks)."""
    email = await MAILER.queue(
        session,
        settings.issuer,
        "alert",
        context,
        to_address=to_address,
        notification_id=notification_id,
    )
    return email.id


async def send_outgoing_email(
    session: AsyncSession, settings: MonitoringSettings, email_id: uuid.UUID
) -> str:
    return await MAILER.send(session, settings, email_id)
