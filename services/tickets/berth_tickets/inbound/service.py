"""Replies by email: received, stored, then read once into their ticket's thread.

Invariants:
- Nothing received is lost: the receiver stores the raw mail and its processing task (the
  outbox) in one transaction before it answers 250; the task runs with late acknowledgement
  and a beat re-enqueues any mail still unprocessed, so a dead worker only delays it.
- Every received mail gets exactly one inbound_emails row with its outcome (InboundOutcome);
  the raw row points to it, so a redelivered task does nothing twice.
- The thread is found ONLY from the signed reply address the mail was sent to (never the
  subject, never In-Reply-To); a reply-all that reached several of our addresses is one
  mail and lands once; the same Message-ID is one message at most.
- Machine-written mail (auto-replies, bounces, lists) is recorded as ignored_autoreply and
  makes no message and no notification; a refused mail gets no answer either (no bounce
  notice from the desk), so no loop can start between the desk and a robot.
- The sender must be the ticket's owner (auth's directory); anyone else is rejected_unknown.
"""

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from loguru import logger
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from berth_common.outbox import enqueue_task
from berth_common.pagination import PageParams
from berth_tickets.config import TicketsSettings
from berth_tickets.enums import InboundOutcome, TicketStatus
from berth_tickets.inbound import schemas
from berth_tickets.inbound.dao import InboundEmailDAO, RawEmailDAO, ThreadDAO
from berth_tickets.inbound.models import InboundEmail, InboundRawEmail
from berth_tickets.inbound.reading import (
    Received,
    automatic_reason,
    read,
    reply_text,
    unreadable,
)
from berth_tickets.inbound.thread import customer_replied_by_email
from berth_tickets.models import Ticket
from berth_tickets.names import QUEUE, Task
from berth_tickets.notify.tokens import TokenProblem, TokenRefused, is_reply_domain, read_address

#: finds a person's address by user id (auth's directory); None when auth does not know them
FindEmail = Callable[[uuid.UUID], Awaitable[str | None]]

MAX_MERGE_HOPS = 10
REQUEUE_AFTER = timedelta(minutes=10)
REQUEUE_GIVE_UP_AFTER = timedelta(days=2)
DETAIL_MAX = 500


async def receive(
    session: AsyncSession, *, mail_from: str, rcpt_tos: list[str], raw: bytes, peer: str = ""
) -> uuid.UUID:
    """Store a mail the receiver accepted and queue its processing (same transaction)."""
    stored = await RawEmailDAO(session).create(
        id=uuid.uuid4(),
        mail_from=mail_from[:998],
        rcpt_tos=[r[:254] for r in rcpt_tos],
        peer=peer[:100],
        raw=raw,
        size_bytes=len(raw),
    )
    await _enqueue(session, stored.id)
    return stored.id


async def _enqueue(session: AsyncSession, raw_id: uuid.UUID) -> None:
    await enqueue_task(session, Task.PROCESS_INBOUND, queue=QUEUE, kwargs={"raw_id": str(raw_id)})


@dataclass(frozen=True)
class Addressed:
    """The ticket a mail's reply address names, or why no address named one."""

    ticket: Ticket | None
    to_address: str
    problem: str = ""


async def process(
    session: AsyncSession, settings: TicketsSettings, raw_id: uuid.UUID, find_email: FindEmail
) -> InboundEmail | None:
    """Read one stored mail into its thread (or not) and record the outcome; a second call
    for the same mail returns the first outcome and changes nothing."""
    raw = await RawEmailDAO(session).get_for_update(raw_id)
    if raw is None:
        logger.warning("inbound mail {} not found", raw_id)
        return None
    if raw.inbound_email_id is not None:
        logger.info("inbound mail {} already processed", raw_id)
        return await InboundEmailDAO(session).get(raw.inbound_email_id)
    first_to = raw.rcpt_tos[0] if raw.rcpt_tos else ""
    try:
        received = read(raw.raw)
    except Exception as exc:  # recorded once, never a task failing (and requeued) forever
        return await _record(
            session,
            raw,
            unreadable(raw.raw),
            InboundOutcome.REJECTED_UNKNOWN,
            f"unreadable mail ({type(exc).__name__})",
            first_to,
        )

    reason = automatic_reason(received, raw.mail_from)
    if reason is not None:
        return await _record(
            session, raw, received, InboundOutcome.IGNORED_AUTOREPLY, reason, first_to
        )

    addressed = await _addressed_ticket(session, settings, raw.rcpt_tos)
    ticket = addressed.ticket
    if ticket is None:
        return await _record(
            session, raw, received, InboundOutcome.REJECTED_TOKEN, addressed.problem, first_to
        )

    def outcome(kind: InboundOutcome, detail: str, message_id: uuid.UUID | None = None):
        return _record(
            session, raw, received, kind, detail, addressed.to_address, ticket, message_id
        )

    known = await ThreadDAO(session).message_with_email_id(received.message_id)
    if known is not None:
        return await outcome(InboundOutcome.DUPLICATE, "this Message-ID is in a thread already")

    owner_email = await find_email(ticket.owner_id)
    if not owner_email or owner_email.strip().lower() != received.from_address:
        return await outcome(
            InboundOutcome.REJECTED_UNKNOWN, "the sender is not the ticket's owner"
        )

    try:
        body = reply_text(received)[: settings.body_max_chars]
    except Exception as exc:  # a part the parser cannot decode: recorded, not retried
        return await outcome(
            InboundOutcome.REJECTED_UNKNOWN, f"unreadable text ({type(exc).__name__})"
        )
    if not body:
        return await outcome(InboundOutcome.REJECTED_UNKNOWN, "no text in the mail")
    was_closed = ticket.status == TicketStatus.CLOSED
    try:
        async with session.begin_nested():
            message = await customer_replied_by_email(
                session,
                settings,
                ticket,
                body,
                at=datetime.now(UTC),
                email_message_id=received.message_id,
            )
    except IntegrityError:  # the same mail, through another delivery, got there first
        return await outcome(InboundOutcome.DUPLICATE, "this Message-ID is in a thread already")
    detail = "reopened the closed ticket" if was_closed else ""
    return await outcome(InboundOutcome.ACCEPTED, detail, message.id)


async def _addressed_ticket(
    session: AsyncSession, settings: TicketsSettings, rcpt_tos: list[str]
) -> Addressed:
    """The first recipient that is a valid reply address names the ticket (a merged ticket's
    replies go on in the ticket it joined); else why none did."""
    problems: list[Addressed] = []
    dao = ThreadDAO(session)
    for address in rcpt_tos:
        if not is_reply_domain(settings, address):
            continue
        try:
            token = read_address(settings, address)
        except TokenRefused as refused:
            problems.append(Addressed(None, address, refused.problem.value))
            continue
        ticket = await dao.by_number_for_update(token.number)
        if ticket is None:
            problems.append(Addressed(None, address, "no such ticket"))
            continue
        if token.version != ticket.reply_token_version:
            problems.append(Addressed(None, address, "revoked token (older version)"))
            continue
        for _ in range(MAX_MERGE_HOPS):
            if ticket.status != TicketStatus.MERGED or ticket.merged_into_id is None:
                break
            joined = await dao.get_for_update(ticket.merged_into_id)
            if joined is None:
                break
            ticket = joined
        if ticket.status == TicketStatus.MERGED:
            problems.append(Addressed(None, address, "the ticket was merged away"))
            continue
        return Addressed(ticket, address)
    if problems:
        return problems[0]
    first = rcpt_tos[0] if rcpt_tos else ""
    return Addressed(None, first, TokenProblem.NOT_A_REPLY_ADDRESS.value)


async def _record(
    session: AsyncSession,
    raw: InboundRawEmail,
    received: Received,
    outcome: InboundOutcome,
    detail: str,
    to_address: str,
    ticket: Ticket | None = None,
    message_id: uuid.UUID | None = None,
) -> InboundEmail:
    row = await InboundEmailDAO(session).create(
        id=uuid.uuid4(),
        message_id=received.message_id,
        in_reply_to=received.in_reply_to,
        from_address=(received.from_address or raw.mail_from)[:254],
        to_address=to_address[:254],
        subject=received.subject,
        size_bytes=raw.size_bytes,
        outcome=outcome,
        detail=detail[:DETAIL_MAX] or None,
        ticket_id=ticket.id if ticket else None,
        ticket_message_id=message_id,
    )
    raw.inbound_email_id = row.id
    await session.flush()
    log = logger.info if outcome == InboundOutcome.ACCEPTED else logger.warning
    log("inbound mail {} {}: {}", raw.id, outcome, detail or "-")
    return row


async def requeue_unprocessed(session: AsyncSession, limit: int = 500) -> int:
    """The beat's backstop: queue again the mails a worker has not processed for a while
    (their task's retries ran out during an outage). Safe beside a live task: the raw row's
    lock and its outcome link make the second run a no-op."""
    now = datetime.now(UTC)
    ids = await RawEmailDAO(session).unprocessed(
        now - REQUEUE_GIVE_UP_AFTER, now - REQUEUE_AFTER, limit
    )
    for raw_id in ids:
        await _enqueue(session, raw_id)
    if ids:
        logger.warning("requeued {} inbound mail(s) still unprocessed", len(ids))
    return len(ids)


async def purge_processed(
    session: AsyncSession, settings: TicketsSettings, limit: int = 5000
) -> int:
    """Drop the raw bytes of mails processed more than TICKETS_INBOUND_KEEP_RAW_DAYS ago; their
    inbound_emails rows (the outcomes) stay. An unprocessed mail is never dropped."""
    before = datetime.now(UTC) - timedelta(days=settings.inbound_keep_raw_days)
    purged = await RawEmailDAO(session).purge_processed(before, limit)
    if purged:
        logger.info("purged {} processed inbound mail(s)", purged)
    return purged


async def recent(
    session: AsyncSession, params: PageParams, outcome: InboundOutcome | None
) -> schemas.InboundEmailPage:
    dao = InboundEmailDAO(session)
    items, total = await dao.list(params, *dao.outcome_filter(outcome))
    page = schemas.InboundEmailPage.build(
        [schemas.InboundEmail.model_validate(i) for i in items], total, params
    )
    page.unprocessed = await RawEmailDAO(session).count_unprocessed()
    return page
