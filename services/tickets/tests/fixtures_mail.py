"""Fixtures and factories of tickets' email tests (star-imported by conftest.py).

The database, broker vhost, signing keys and environment come from berth_testing's plugin
(TICKETS_REPLY_SECRET included). Each test makes its own people, department and tickets.
"""

import os
import uuid
from collections.abc import AsyncIterator
from email.message import EmailMessage
from email.utils import make_msgid
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from berth_testing.oauth import bearer, mint_access_token
from berth_testing.plugin import app_client, trust_keys
from berth_tickets.config import TicketsSettings
from berth_tickets.inbound import service as inbound
from berth_tickets.models import (
    Department,
    InboundEmail,
    OutgoingEmail,
    Ticket,
    TicketMessage,
)
from berth_tickets.notify.tokens import reply_address

__all__ = [
    "Person",
    "admin",
    "deliver",
    "directory",
    "emails_of",
    "make_ticket",
    "messages_of",
    "person",
    "reply_mail",
    "tickets_app",
    "tickets_db",
    "tickets_http",
    "tickets_settings",
]


@pytest.fixture(scope="session")
async def tickets_app(berth_env: dict[str, str]) -> FastAPI:
    from berth_tickets.main import create_app

    return create_app(TicketsSettings())


@pytest.fixture(scope="session")
async def tickets_http(
    tickets_app: FastAPI, public_jwks: dict[str, Any]
) -> AsyncIterator[httpx.AsyncClient]:
    async with app_client(tickets_app) as client:
        trust_keys(tickets_app, public_jwks)
        yield client


@pytest.fixture(scope="session")
def tickets_db(tickets_http, tickets_app: FastAPI) -> async_sessionmaker[AsyncSession]:
    return tickets_app.state.db.sessionmaker


@pytest.fixture(scope="session")
def tickets_settings(tickets_app: FastAPI) -> TicketsSettings:
    return tickets_app.state.settings


class Person:
    """A signed-in person: a user id, an address, roles and a token."""

    def __init__(self, signing_jwks: dict, roles: list[str] | None = None):
        self.id = uuid.uuid4()
        self.email = f"p-{self.id.hex[:10]}@example.test"
        self.token = mint_access_token(
            signing_jwks,
            issuer=os.environ["BERTH_PUBLIC_URL"],
            subject=str(self.id),
            roles=roles or ["user"],
        )
        self.headers = bearer(self.token)


@pytest.fixture
def person(signing_jwks):
    """A factory of people: person(roles=None) -> Person."""
    return lambda roles=None: Person(signing_jwks, roles)


@pytest.fixture
def admin(signing_jwks) -> Person:
    return Person(signing_jwks, ["user", "admin"])


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
