"""Billing's emails: a row written with the change that owes it, delivered once by a task.

The address is resolved when sending (the account's, else auth's directory), so a notice
can be owed before billing ever learned the address. The row is locked while sending and
its status makes a redelivered task a no-op.
"""

import string
import uuid
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import formatdate, parseaddr
from functools import lru_cache
from importlib import resources
from typing import Any

import aiosmtplib
from loguru import logger
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from berth_billing.config import BillingSettings
from berth_billing.directory import Directory
from berth_billing.models import Account, OutgoingEmail
from berth_common.errors import TransientError
from berth_common.outbox import enqueue_task

SEND_TASK = "billing.mail.send"
TEMPLATES = ("low_balance", "grace_warning", "suspended", "invoice_ready")


@lru_cache(maxsize=len(TEMPLATES))
def _template(name: str) -> tuple[string.Template, string.Template]:
    if name not in TEMPLATES:
        raise ValueError(f"unknown email template {name!r}")
    raw = (resources.files("berth_billing") / "templates" / f"{name}.txt").read_text("utf-8")
    first, _, body = raw.partition("\n")
    return string.Template(first.removeprefix("Subject: ")), string.Template(body.lstrip("\n"))


def render(template: str, context: dict[str, Any]) -> tuple[str, str]:
    subject, body = _template(template)
    values = {k: str(v) for k, v in context.items()}
    return subject.substitute(values), body.substitute(values)


async def queue_email(
    session: AsyncSession,
    settings: BillingSettings,
    *,
    account_id: uuid.UUID,
    template: str,
    context: dict[str, Any],
    notice_id: uuid.UUID | None = None,
) -> uuid.UUID:
    subject, body = render(template, {"public_url": settings.issuer, **context})
    email = OutgoingEmail(
        id=uuid.uuid4(),
        account_id=account_id,
        notice_id=notice_id,
        template=template,
        subject=subject[:200],
        body_text=body,
        status="pending",
    )
    session.add(email)
    await session.flush()
    await enqueue_task(session, SEND_TASK, queue="billing", kwargs={"email_id": str(email.id)})
    return email.id


def build_message(email: OutgoingEmail, settings: BillingSettings) -> EmailMessage:
    sender_domain = parseaddr(settings.smtp_from)[1].rpartition("@")[2] or "berth"
    message = EmailMessage()
    message["From"] = settings.smtp_from
    message["To"] = email.to_address
    message["Subject"] = email.subject
    message["Date"] = formatdate(usegmt=True)
    message["Message-ID"] = f"<{email.id}@{sender_domain}>"
    message.set_content(email.body_text)
    return message


async def send_outgoing_email(
    session: AsyncSession, settings: BillingSettings, directory: Directory, email_id: uuid.UUID
) -> str:
    email = (
        await session.execute(
            select(OutgoingEmail).where(OutgoingEmail.id == email_id).with_for_update()
        )
    ).scalar_one_or_none()
    if email is None:
        return "missing"
    if email.status != "pending":
        return email.status
    if not email.to_address:
        account = await session.get(Account, email.account_id)
        address = account.email if account else None
        if not address and account is not None and account.owner_id is not None:
            address = await directory.email_of(account.owner_id)
            if address:
                account.email = address
        if not address:
            email.status = "failed"
            email.last_error = "no address known for this account"
            await session.flush()
            logger.warning("email {} has no recipient", email_id)
            return email.status
        email.to_address = address
    password = settings.smtp_password.get_secret_value() if settings.smtp_password else None
    try:
        await aiosmtplib.send(
            build_message(email, settings),
            hostname=settings.smtp_host,
            port=settings.smtp_port,
            username=settings.smtp_username,
            password=password,
            start_tls=settings.smtp_starttls,
            timeout=settings.smtp_timeout_seconds,
        )
    except aiosmtplib.SMTPRecipientsRefused as exc:
        if all(r.code >= 500 for r in exc.recipients):
            email.status = "failed"
            email.last_error = "; ".join(f"{r.code} {r.message}" for r in exc.recipients)[:500]
            await session.flush()
            return email.status
        raise TransientError("SMTP recipient deferred") from exc
    except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
        raise TransientError(f"SMTP unavailable: {type(exc).__name__}") from exc
    email.status = "sent"
    email.sent_at = datetime.now(UTC)
    email.attempts += 1
    await session.flush()
    logger.info("email {} sent ({})", email_id, email.template)
    return email.status


async def requeue_stale(session: AsyncSession, limit: int = 500) -> int:
    """Enqueue again what is still pending after its task's retries ran out (long outage);
    delivery stays guarded by the row lock and status."""
    from datetime import timedelta

    now = datetime.now(UTC)
    ids = list(
        (
            await session.execute(
                select(OutgoingEmail.id)
                .where(
                    OutgoingEmail.status == "pending",
                    OutgoingEmail.created_at < now - timedelta(minutes=45),
                    OutgoingEmail.created_at > now - timedelta(days=1),
                )
                .limit(limit)
            )
        ).scalars()
    )
    for email_id in ids:
        await enqueue_task(session, SEND_TASK, queue="billing", kwargs={"email_id": str(email_id)})
    return len(ids)
