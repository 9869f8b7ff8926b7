"""Outgoing mail, once for every service: settings, templates, the outbox row, guarded send.

An email is a row written in the same transaction as the change that owes it, plus an outbox
task message; the service's send task delivers the row once: the row is locked while sending
and its status makes a redelivered task a no-op. A refusal the server means (5xx, or every
recipient refused with a 5xx) marks the row failed and is not retried; anything a retry may
cure (4xx, a timeout, a lost connection, a rejected login) raises TransientError, so the task
retries and the row stays pending. A service keeps only its templates and its own columns.
"""

import string
import uuid
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.utils import formatdate, parseaddr
from enum import StrEnum
from importlib import resources
from typing import Any, TypeVar

import aiosmtplib
from loguru import logger
from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings
from sqlalchemy import DateTime, Integer, String, Text, delete, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from berth_common.columns import now_timestamp, uuid_pk
from berth_common.dao import BaseDAO
from berth_common.errors import TransientError
from berth_common.outbox import enqueue_task

# the send task retries with backoff (2 s doubling, capped at 5 min) for about half an hour
SEND_MAX_RETRIES = 12
# past the send task's own retry window; after a day the email is stale news
STALE_AFTER = timedelta(minutes=45)
STALE_GIVE_UP_AFTER = timedelta(days=1)
SUBJECT_MAX = 200
ERROR_MAX = 500


class MailSettings(BaseSettings):
    """The SMTP relay; the same variables for every service (no service prefix)."""

    smtp_host: str = Field("127.0.0.1", validation_alias="SMTP_HOST")
    smtp_port: int = Field(2525, validation_alias="SMTP_PORT")
    smtp_username: str | None = Field(None, validation_alias="SMTP_USERNAME")
    smtp_password: SecretStr | None = Field(None, validation_alias="SMTP_PASSWORD")
    smtp_starttls: bool = Field(False, validation_alias="SMTP_STARTTLS")
    smtp_from: str = Field("Berth <no-reply@berth.localhost>", validation_alias="SMTP_FROM")
    smtp_timeout_seconds: float = Field(20.0, validation_alias="SMTP_TIMEOUT_SECONDS")


class EmailStatus(StrEnum):
    PENDING = "pending"
    SENT = "sent"
    FAILED = "failed"


#: what the send task answers for an id with no row (deleted, or never committed)
MISSING = "missing"


class UnsafeHeader(ValueError):
    """A header value that would end the header early (CR or LF: header injection)."""


def checked_subject(subject: str) -> str:
    if "\r" in subject or "\n" in subject:
        raise UnsafeHeader("an email subject may not contain a line break")
    return subject


@dataclass(frozen=True)
class RenderedEmail:
    subject: str
    body: str


class Templates:
    """A service's plain-text templates: `<package>/templates/<name>.txt`, whose first line is
    `Subject: ...`; both parts are string.Template text."""

    def __init__(self, package: str, names: Iterable[str]):
        self.package = package
        self.names = tuple(names)
        self._loaded: dict[str, tuple[string.Template, string.Template]] = {}

    def _load(self, name: str) -> tuple[string.Template, string.Template]:
        if name not in self.names:
            raise ValueError(f"unknown email template {name!r}")
        if name not in self._loaded:
            raw = (resources.files(self.package) / "templates" / f"{name}.txt").read_text("utf-8")
            first, _, body = raw.partition("\n")
            if not first.startswith("Subject: "):
                raise ValueError(f"template {name!r} must start with a Subject: line")
            subject = string.Template(first.removeprefix("Subject: "))
            self._loaded[name] = subject, string.Template(body.lstrip("\n"))
        return self._loaded[name]

    def render(self, name: str, context: dict[str, Any]) -> RenderedEmail:
        """Subject and text body; a missing variable is a programming error (KeyError), and
        a subject that a value broke into two lines is refused (UnsafeHeader)."""
        subject, body = self._load(name)
        values = {k: str(v) for k, v in context.items()}
        rendered = subject.substitute(values)
        return RenderedEmail(subject=checked_subject(rendered), body=body.substitute(values))


class OutgoingEmailColumns:
    """The columns every service's outgoing_emails table has; the service's model adds
    `to_address`, `template` and what links a row to its own tables, and its indexes."""

    id: Mapped[uuid.UUID] = uuid_pk()
    subject: Mapped[str] = mapped_column(String(SUBJECT_MAX), nullable=False)
    body_text: Mapped[str] = mapped_column(Text, nullable=False)
    status: Mapped[str] = mapped_column(String(16), nullable=False, server_default="pending")
    attempts: Mapped[int] = mapped_column(Integer, nullable=False, server_default="0")
    last_error: Mapped[str | None] = mapped_column(String(ERROR_MAX))
    sent_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = now_timestamp()


EmailT = TypeVar("EmailT", bound=Any)


class OutgoingEmailDAO(BaseDAO[EmailT]):
    """The queries of an outgoing_emails table; a service subclasses it with its `model`."""

    async def get_for_update(self, email_id: uuid.UUID) -> EmailT | None:
        stmt = select(self.model).where(self.model.id == email_id).with_for_update()
        return (await self.session.execute(stmt)).scalars().first()

    async def stale_pending(
        self, created_after: datetime, created_before: datetime, limit: int
    ) -> list[uuid.UUID]:
        stmt = (
            select(self.model.id)
            .where(
                self.model.status == EmailStatus.PENDING,
                self.model.created_at > created_after,
                self.model.created_at < created_before,
            )
            .order_by(self.model.created_at)
            .limit(limit)
        )
        return list((await self.session.execute(stmt)).scalars().all())

    async def purge_delivered(self, before: datetime) -> int:
        done = (EmailStatus.SENT, EmailStatus.FAILED)
        result = await self.session.execute(
            delete(self.model).where(self.model.status.in_(done), self.model.created_at < before)
        )
        return result.rowcount or 0


#: what every platform mail says of itself (RFC 3834): automatic, so auto-responders that
#: honour it stay quiet and a loop between the desk and an out-of-office reply never starts
AUTO_SUBMITTED = "auto-replied"
#: headers a service may add to its mail (the others are the platform's own)
EXTRA_HEADERS = frozenset({"Reply-To", "In-Reply-To", "References"})


def sender_domain(settings: MailSettings) -> str:
    return parseaddr(settings.smtp_from)[1].rpartition("@")[2] or "berth"


def checked_header(name: str, value: str) -> str:
    if "\r" in value or "\n" in value:
        raise UnsafeHeader(f"an email's {name} header may not contain a line break")
    return value


def build_message(
    email: Any, settings: MailSettings, extra_headers: dict[str, str] | None = None
) -> EmailMessage:
    """The message of one outgoing_emails row. A row with a `reply_to` column gets its
    Reply-To; `extra_headers` (EXTRA_HEADERS only) thread it with what it answers."""
    message = EmailMessage()
    message["From"] = settings.smtp_from
    message["To"] = email.to_address
    message["Subject"] = checked_subject(email.subject)
    message["Date"] = formatdate(usegmt=True)
    # stable per row: a receiver can drop the duplicate of a send repeated after a crash
    message["Message-ID"] = f"<{email.id}@{sender_domain(settings)}>"
    message["Auto-Submitted"] = AUTO_SUBMITTED
    headers = dict(extra_headers or {})
    if getattr(email, "reply_to", None):
        headers.setdefault("Reply-To", email.reply_to)
    for name, value in headers.items():
        if name not in EXTRA_HEADERS:
            raise ValueError(f"a service may not set the {name} header")
        message[name] = checked_header(name, value)
    message.set_content(email.body_text)
    return message


async def smtp_send(settings: MailSettings, message: EmailMessage) -> None:
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


def permanent_reason(exc: Exception) -> str | None:
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


#: finds the address of a row queued without one (None: nobody to send it to)
RecipientFinder = Callable[[Any], Awaitable[str | None]]
#: a service's threading headers of a row (In-Reply-To, References), given the sender domain
ThreadHeaders = Callable[[Any, str], dict[str, str]]


@dataclass(frozen=True)
class Mailer:
    """One service's mail: its row DAO, templates, and the `<service>.mail.*` task names."""

    service: str
    dao: type[OutgoingEmailDAO[Any]]
    templates: Templates
    # templates whose body carries a one-time code: redacted once delivered
    redact_after_send: frozenset[str] = field(default_factory=frozenset)
    redacted_body: str = "[redacted after delivery: the message contained a one-time code]"
    thread_headers: ThreadHeaders | None = None

    @property
    def send_task(self) -> str:
        return f"{self.service}.mail.send"

    @property
    def requeue_task(self) -> str:
        return f"{self.service}.mail.requeue_stale"

    async def queue(
        self,
        session: AsyncSession,
        public_url: str,
        template: str,
        context: dict[str, Any],
        **columns: Any,
    ) -> Any:
        """Store the rendered email and enqueue its delivery in the caller's transaction;
        `columns` are the service's own (the address, what the email is about)."""
        rendered = self.templates.render(template, {"public_url": public_url, **context})
        email = await self.dao(session).create(
            id=uuid.uuid4(),
            template=template,
            subject=rendered.subject[:SUBJECT_MAX],
            body_text=rendered.body,
            status=EmailStatus.PENDING,
            **columns,
        )
        await self._enqueue(session, email.id)
        return email

    async def _enqueue(self, session: AsyncSession, email_id: uuid.UUID) -> None:
        kwargs = {"email_id": str(email_id)}
        await enqueue_task(session, self.send_task, queue=self.service, kwargs=kwargs)

    async def send(
        self,
        session: AsyncSession,
        settings: MailSettings,
        email_id: uuid.UUID,
        find_recipient: RecipientFinder | None = None,
    ) -> str:
        """The send task's body: deliver one queued email, return the row's resulting status.

        Raises TransientError when a retry may succeed (the transaction rolls back, the row
        stays pending); a permanent refusal marks the row failed and does not retry.
        """
        email = await self.dao(session).get_for_update(email_id)
        if email is None:
            logger.warning("outgoing email {} not found", email_id)
            return MISSING
        if email.status != EmailStatus.PENDING:
            logger.info("outgoing email {} already {}", email_id, email.status)
            return email.status
        if not email.to_address:
            email.to_address = await find_recipient(email) if find_recipient else None
            if not email.to_address:
                return await _fail(session, email, "no address known for this account", tried=False)
        try:
            extra = (
                self.thread_headers(email, sender_domain(settings)) if self.thread_headers else None
            )
            await smtp_send(settings, build_message(email, settings, extra))
        except UnsafeHeader as exc:
            return await _fail(session, email, str(exc), tried=False)
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
            reason = permanent_reason(exc)
            if reason is None:
                logger.warning("email {} not sent yet: {}", email_id, type(exc).__name__)
                raise TransientError(f"SMTP unavailable: {type(exc).__name__}") from exc
            return await _fail(session, email, reason)
        return await self._sent(session, email)

    async def _sent(self, session: AsyncSession, email: Any) -> str:
        email.status = EmailStatus.SENT
        email.sent_at = datetime.now(UTC)
        email.attempts += 1
        email.last_error = None
        if email.template in self.redact_after_send:
            email.body_text = self.redacted_body
        await session.flush()
        logger.info("email {} sent ({})", email.id, email.template)
        return email.status

    async def requeue_stale(self, session: AsyncSession, limit: int = 500) -> int:
        """Enqueue again the emails still pending after their task's retries ran out (a long
        SMTP outage). Safe beside a live retry: delivery is guarded by the row lock and status.
        """
        now = datetime.now(UTC)
        ids = await self.dao(session).stale_pending(
            now - STALE_GIVE_UP_AFTER, now - STALE_AFTER, limit
        )
        for email_id in ids:
            await self._enqueue(session, email_id)
        if ids:
            logger.warning("requeued {} {} email(s) still pending", len(ids), self.service)
        return len(ids)


async def _fail(session: AsyncSession, email: Any, reason: str, *, tried: bool = True) -> str:
    """Give up on the email for good (`tried`: the SMTP server was asked and refused)."""
    email.status = EmailStatus.FAILED
    email.attempts += 1 if tried else 0
    email.last_error = reason[:ERROR_MAX]
    await session.flush()
    logger.error("email {} failed for good: {}", email.id, email.last_error)
    return email.status
