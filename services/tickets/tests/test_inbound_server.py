"""The SMTP receiver: it answers 250 only once a mail and its processing task are stored,
451 when it cannot store (the sending server keeps the mail), and refuses what is not a
reply to this desk (550) or too large (552) in the dialogue."""

import asyncio
import uuid
from email.message import EmailMessage

import aiosmtplib
import pytest
from sqlalchemy import select, text

from berth_common.worker import WorkerRuntime
from berth_testing.processes import free_port
from berth_tickets.inbound.models import InboundRawEmail
from berth_tickets.inbound.server import ReplyHandler, make_smtp
from berth_tickets.models import SCHEMA, Base
from berth_tickets.names import Task


async def serving(settings, runtime: WorkerRuntime) -> tuple[asyncio.Server, int]:
    port = free_port()
    handler = ReplyHandler(settings, runtime)
    server = await asyncio.get_running_loop().create_server(
        lambda: make_smtp(settings, handler), host="127.0.0.1", port=port
    )
    return server, port


def mail(to: str, body: str = "Thanks!") -> EmailMessage:
    message = EmailMessage()
    message["From"] = "ada@example.test"
    message["To"] = to
    message["Subject"] = "Re: your ticket"
    message["Message-ID"] = f"<{uuid.uuid4().hex}@example.test>"
    message.set_content(body)
    return message


async def test_a_mail_is_stored_with_its_task_before_the_250(tickets_db, tickets_settings):
    runtime = WorkerRuntime(tickets_settings, SCHEMA, Base.metadata)
    server, port = await serving(tickets_settings, runtime)
    to = f"reply+anything@{tickets_settings.reply_domain}"
    try:
        errors, reply = await aiosmtplib.send(
            mail(to), hostname="127.0.0.1", port=port, sender="ada@example.test"
        )
    finally:
        server.close()
        await runtime.db.dispose()
    assert errors == {} and reply.startswith("2.0.0 Queued as ")
    raw_id = uuid.UUID(reply.removeprefix("2.0.0 Queued as ").strip())
    async with tickets_db() as session:
        stored = await session.get(InboundRawEmail, raw_id)
        queued = (
            (
                await session.execute(
                    text("SELECT headers->>'task' FROM tickets.outbox WHERE body LIKE :id"),
                    {"id": f"%{raw_id}%"},
                )
            )
            .scalars()
            .all()
        )
    assert (stored.mail_from, stored.rcpt_tos) == ("ada@example.test", [to])
    assert b"Thanks!" in stored.raw and stored.inbound_email_id is None
    assert queued == [Task.PROCESS_INBOUND]


async def test_not_a_reply_address_or_too_large_is_refused_in_the_dialogue(
    tickets_db, tickets_settings
):
    settings = tickets_settings.model_copy(update={"inbound_max_bytes": 10_000})
    runtime = WorkerRuntime(settings, SCHEMA, Base.metadata)
    server, port = await serving(settings, runtime)
    try:
        with pytest.raises(aiosmtplib.SMTPRecipientsRefused) as refused:
            await aiosmtplib.send(mail("someone@example.test"), hostname="127.0.0.1", port=port)
        assert refused.value.recipients[0].code == 550
        big = mail(f"reply+x@{settings.reply_domain}", "x" * 20_000)
        with pytest.raises(aiosmtplib.SMTPResponseException) as too_big:
            await aiosmtplib.send(big, hostname="127.0.0.1", port=port)
        assert too_big.value.code == 552
    finally:
        server.close()
        await runtime.db.dispose()
    async with tickets_db() as session:
        found = (
            await session.execute(
                select(InboundRawEmail.id).where(InboundRawEmail.size_bytes > 20_000)
            )
        ).all()
    assert found == []


async def test_a_mail_it_cannot_store_gets_a_451_so_the_sender_retries(tickets_settings):
    down = tickets_settings.model_copy(
        update={"database_url": f"postgresql+asyncpg://nobody@127.0.0.1:{free_port()}/berth"}
    )
    runtime = WorkerRuntime(down, SCHEMA, Base.metadata)
    server, port = await serving(down, runtime)
    try:
        with pytest.raises(aiosmtplib.SMTPDataError) as refused:
            await aiosmtplib.send(
                mail(f"reply+x@{down.reply_domain}"), hostname="127.0.0.1", port=port
            )
    finally:
        server.close()
        await runtime.db.dispose()
    assert refused.value.code == 451
