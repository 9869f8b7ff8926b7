"""Fixtures and factories of tickets' email tests (star-imported by conftest.py, beside
fixtures_tickets: the app, its database, people). TICKETS_REPLY_SECRET comes from
berth_testing's plugin. Each test makes its own people, department and tickets."""

import uuid
from email.message import EmailMessage
from email.utils import make_msgid

import pytest
from fixtures_tickets import Person
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from berth_tickets.config import TicketsSettings
from berth_tickets.inbound import service as inbound
from berth_tickets.inbound.models import InboundEmail
from berth_tickets.models import Department, OutgoingEmail, Ticket, TicketMessage
from berth_tickets.notify.tokens import reply_address

__all__ = [
    "address",
    "deliver",
    "directory",
    "emails_of",
    "make_ticket",
    "messages_of",
    "reply_mail",
]


def address(who: Person) -> str:
    """A person's address as the tests' directory knows it."""
    return f"{who.id}@example.test"


@pytest.fixture
def directory():
    """What auth's directory answers in these tests: {user id: address}, and its lookup."""
    known: dict[uuid.UUID, str] = {}

    async def email_of(user_id: uuid.UUID) -> str | None:
        return known.get(user_id)

    return known, email_of


async def make_ticket(
    db: async_sessionmaker[AsyncSession],
    owner: Person,
    *,
    status: str = "waiting_customer",
    assignee_id: uuid.UUID | None = None,
    subject: str = "My app does not start",
) -> Ticket:
    async with db() as session, session.begin():
        department = Department(slug=f"d-{uuid.uuid4().hex[:10]}", name="Technical")
        session.add(department)
        await session.flush()
        ticket = Ticket(
            owner_id=owner.id,
            department_id=department.id,
            subject=subject,
            status=status,
            plan_tier="standard",
            assignee_id=assignee_id,
        )
        if status == "closed":
            from datetime import UTC, datetime

            ticket.closed_at = datetime.now(UTC)
        session.add(ticket)
        await session.flush()
        session.add(
            TicketMessage(
                ticket_id=ticket.id,
                author_kind="customer",
                author_id=owner.id,
                body="It crashes at boot since this morning.",
            )
        )
    return ticket


def reply_mail(
    settings: TicketsSettings,
    ticket: Ticket | None,
    sender: str,
    body: str = "Thanks, restarting fixed it.",
    *,
    to: str | None = None,
    message_id: str | None = None,
    headers: dict[str, str] | None = None,
    subject: str | None = None,
) -> tuple[str, bytes]:
    """A reply as a mail program writes it: (the address it goes to, the raw RFC 5322 bytes)."""
    address = to or reply_address(settings, ticket.number, ticket.reply_token_version)
    message = EmailMessage()
    message["From"] = f"Ada <{sender}>"
    message["To"] = address
    message["Subject"] = subject or f"Re: [T-{ticket.number:06d}] My app does not start"
    message["Message-ID"] = message_id or make_msgid(domain="example.test")
    for name, value in (headers or {}).items():
        message[name] = value
    message.set_content(
        f"{body}\n\n-- \nAda Lovelace\nAnalytical Engines\n\n"
        "On Mon, 30 Nov 2026 at 10:00, Berth <reply@berth.localhost> wrote:\n"
        "> We restarted your app.\n> The Berth support team\n"
    )
    return address, bytes(message)


async def deliver(
    db: async_sessionmaker[AsyncSession],
    settings: TicketsSettings,
    email_of,
    raw: bytes,
    rcpt_tos: list[str],
    mail_from: str = "ada@example.test",
) -> InboundEmail:
    """What the receiver then the worker do with one mail: store it, then process it."""
    async with db() as session, session.begin():
        raw_id = await inbound.receive(session, mail_from=mail_from, rcpt_tos=rcpt_tos, raw=raw)
    async with db() as session, session.begin():
        return await inbound.process(session, settings, raw_id, email_of)


async def messages_of(db, ticket_id: uuid.UUID) -> list[TicketMessage]:
    async with db() as session:
        stmt = (
            select(TicketMessage)
            .where(TicketMessage.ticket_id == ticket_id)
            .order_by(TicketMessage.created_at)
        )
        return list((await session.execute(stmt)).scalars().all())


async def emails_of(db, ticket_id: uuid.UUID) -> list[OutgoingEmail]:
    async with db() as session:
        stmt = select(OutgoingEmail).where(OutgoingEmail.ticket_id == ticket_id)
        return list((await session.execute(stmt)).scalars().all())
