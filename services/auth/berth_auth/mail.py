"""Email: plain-text templates, queueing through the outbox, delivery over SMTP.

An email is a row (OutgoingEmail) written in the same transaction as the change that owes
it, plus an outbox task message; the `auth.mail.send` task delivers the row once: the row is
locked while sending and its status makes a redelivered task a no-op.
"""

import string
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.utils import formatdate, parseaddr
from functools import lru_cache
from importlib import resources
from typing import Any

import aiosmtplib
from loguru import logger
from sqlalchemy.ext.asyncio import AsyncSession

from berth_auth.accounts.dao import OutgoingEmailDAO
from berth_auth.config import AuthSettings
from berth_auth.models import OutgoingEmail
from berth_common.errors import TransientError
from berth_common.outbox import enqueue_task

SEND_TASK = "auth.mail.send"
TEMPLATES = ("verify_email", "password_reset", "password_changed")
# bodies that carry a one-time code are redacted once delivered, so no code rests in the DB
CODE_TEMPLATES = frozenset({"verify_email", "password_reset"})
# past the send task's own retry window (~30 min); after a day the email is stale news
STALE_AFTER = timedelta(minutes=45)
STALE_GIVE_UP_AFTER = timedelta(days=1)
REDACTED_BODY = "[redacted after delivery: the message contained a one-time code]"


@dataclass(frozen=True)
class RenderedEmail:
    subject: str
    body: str


@lru_cache(maxsize=len(TEMPLATES))
def _template(name: str) -> tuple[string.Template, string.Template]:
    if name not in TEMPLATES:
        raise ValueError(f"unknown email template {name!r}")
    raw = (resources.files("berth_auth") / "templates" / f"{name}.txt").read_text("utf-8")
    first, _, body = raw.partition("\n")
    if not first.startswith("Subject: "):
        raise ValueError(f"template {name!r} must start with a Subject: line")
    return string.Template(first.removeprefix("Subject: ")), string.Template(body.lstrip("\n"))


def render_email(template: str, context: dict[str, Any]) -> RenderedEmail:
    """Subject and text body of `template`; a missing variable is a programming error."""
    subject, body = _template(template)
    values = {k: str(v) for k, v in context.items()}
    return RenderedEmail(subject=subject.substitute(values), body=body.substitute(values))


async def queue_email(
    session: AsyncSession,
    settings: AuthSettings,
    *,
    to: str,
    template: str,
    user_id: uuid.UUID | None,
    context: dict[str, Any],
) -> OutgoingEmail:
    """Store the rendered email and enqueue its delivery in the caller's transaction."""
    rendered = render_email(template, {"public_url": settings.issuer, **context})
    email = await OutgoingEmailDAO(session).create(
        id=uuid.uuid4(),
        user_id=user_id,
        to_address=to,
        template=template,
        subject=rendered.subject[:200],
        body_text=rendered.body,
        status="pending",
    )
    await enqueue_task(session, SEND_TASK, queue="auth", kwargs={"email_id": str(email.id)})
    return email


async def requeue_stale(session: AsyncSession, limit: int = 500) -> int:
    """Enqueue again the emails still pending after their task's retries ran out (a long SMTP
    outage). Safe to overlap with a live retry: delivery is guarded by the row lock and status.
    """
    now = datetime.now(UTC)
    ids = await OutgoingEmailDAO(session).stale_pending(
        now - STALE_GIVE_UP_AFTER, now - STALE_AFTER, limit
    )
    for email_id in ids:
        await enqueue_task(session, SEND_TASK, queue="auth", kwargs={"email_id": str(email_id)})
    if ids:
        logger.warning("requeued {} email(s) still pending", len(ids))
    return len(ids)


def build_message(email: OutgoingEmail, settings: AuthSettings) -> EmailMessage:
    sender_domain = parseaddr(settings.smtp_from)[1].rpartition("@")[2] or "berth"
    message = EmailMessage()
    message["From"] = settings.smtp_from
    message["To"] = email.to_address
    message["Subject"] = email.subject
    message["Date"] = formatdate(usegmt=True)
    # stable per row: a receiver can drop the duplicate of a send repeated after a crash
    message["Message-ID"] = f"<{email.id}@{sender_domain}>"
    message.set_content(email.body_text)
    return message


async def smtp_send(settings: AuthSettings, message: EmailMessage) -> None:
    password = settings.smtp_password.get_secret_value() if settings.smtp_password else None
    await aiosmtplib.send(
        message,
        hostname=settings.smtp_host,
        port=settings.smtp_port,
        username=settings.smtp_username,
        password=password,
        start_tls=settings.smtp_starttls,
        timeout=settings.smtp_timeout_seconds,
    )


def _permanent_reason(exc: Exception) -> str | None:
    """The reason to give up for a permanent SMTP refusal; None when a retry may succeed."""
    if isinstance(exc, aiosmtplib.SMTPRecipientsRefused):
        codes = [r.code for r in exc.recipients]
        if codes and all(code >= 500 for code in codes):
            return "; ".join(f"{r.code} {r.message}" for r in exc.recipients)
        return None
    # a rejected login is a configuration problem an operator fixes: keep retrying
    if isinstance(exc, aiosmtplib.SMTPAuthenticationError):
        return None
    if isinstance(exc, aiosmtplib.SMTPResponseException) and exc.code >= 500:
        return f"{exc.code} {exc.message}"
    return None


async def send_outgoing_email(
    session: AsyncSession, settings: AuthSettings, email_id: uuid.UUID
) -> str:
    """Deliver one queued email; returns the row's resulting status.

    Raises TransientError when a retry may succeed (the transaction rolls back, the row
    stays pending); a permanent refusal marks the row failed and does not retry.
    """
    email = await OutgoingEmailDAO(session).get_for_update(email_id)
    if email is None:
        logger.warning("outgoing email {} not found", email_id)
        return "missing"
    if email.status != "pending":
        logger.info("outgoing email {} already {}", email_id, email.status)
        return email.status
    try:
        await smtp_send(settings, build_message(email, settings))
    except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
        reason = _permanent_reason(exc)
        if reason is None:
            logger.warning("email {} not sent yet: {}", email_id, type(exc).__name__)
            raise TransientError(f"SMTP unavailable: {type(exc).__name__}") from exc
        email.status = "failed"
        email.attempts += 1
        email.last_error = reason[:500]
        await session.flush()
        logger.error("email {} refused permanently: {}", email_id, email.last_error)
        return email.status
    email.status = "sent"
    email.sent_at = datetime.now(UTC)
    email.attempts += 1
    email.last_error = None
    if email.template in CODE_TEMPLATES:
        email.body_text = REDACTED_BODY
    await session.flush()
    logger.info("email {} sent ({})", email_id, email.template)
    return email.status
