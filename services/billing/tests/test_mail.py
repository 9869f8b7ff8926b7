"""Billing's notices go out through berth_common.mail: a refusal the SMTP server means (5xx)
fails the email for good, a temporary one (4xx) is retried, and a subject that a value broke
into two lines never reaches a mail server."""

import uuid

import pytest
from aiosmtpd.controller import Controller
from fixtures_billing import emails_of

from berth_billing import mail
from berth_billing.accounts.dao import AccountDAO
from berth_billing.directory import Directory
from berth_billing.models import OutgoingEmail
from berth_common.errors import TransientError
from berth_common.mail import UnsafeHeader
from berth_testing.processes import free_port
from berth_testing.smtp import SmtpSink, start_sink


@pytest.fixture
def smtp(billing_settings):
    """Starts a sink on a fresh port; yields (start(**replies) -> sink, settings using it)."""
    port = free_port()
    controllers: list[Controller] = []

    def start(**replies: str) -> SmtpSink:
        for running in controllers:
            running.stop()
        sink, controller = start_sink(port, **replies)
        controllers[:] = [controller]
        return sink

    yield start, billing_settings.model_copy(update={"smtp_port": port})
    for running in controllers:
        running.stop()


async def queued_notice(billing_db, billing_settings, person) -> OutgoingEmail:
    owner = person()
    async with billing_db() as session, session.begin():
        account = await AccountDAO(session).ensure_wallet(
            owner.id, billing_settings.currency, f"mia-{uuid.uuid4().hex[:8]}@example.test"
        )
        await mail.queue_email(
            session,
            billing_settings,
            account_id=account.id,
            template="low_balance",
            context={"balance": "4.00 EUR", "threshold": "5.00 EUR", "grace_hours": 24},
        )
    [row] = await emails_of(billing_db, account.id)
    return row


async def send(billing_db, settings, email_id: uuid.UUID) -> str:
    async with billing_db() as session, session.begin():
        return await mail.send_outgoing_email(session, settings, Directory(settings), email_id)


async def reload(billing_db, email_id: uuid.UUID) -> OutgoingEmail:
    async with billing_db() as session:
        return await session.get(OutgoingEmail, email_id)


async def test_a_5xx_refused_recipient_fails_for_good(billing_db, billing_settings, person, smtp):
    start, settings = smtp
    row = await queued_notice(billing_db, billing_settings, person)
    start(rcpt_reply="550 5.1.1 no such mailbox")
    assert await send(billing_db, settings, row.id) == "failed"  # no TransientError: no retry
    assert await send(billing_db, settings, row.id) == "failed"  # a redelivery is a no-op
    failed = await reload(billing_db, row.id)
    assert (failed.status, failed.attempts) == ("failed", 1)
    assert failed.last_error.startswith("550")


async def test_a_5xx_refused_message_fails_for_good(billing_db, billing_settings, person, smtp):
    start, settings = smtp
    row = await queued_notice(billing_db, billing_settings, person)
    start(data_reply="554 5.6.0 message refused")
    assert await send(billing_db, settings, row.id) == "failed"
    failed = await reload(billing_db, row.id)
    assert failed.status == "failed" and failed.last_error.startswith("554")


async def test_a_4xx_is_retried_and_then_delivered(billing_db, billing_settings, person, smtp):
    start, settings = smtp
    row = await queued_notice(billing_db, billing_settings, person)
    start(rcpt_reply="450 4.2.0 mailbox busy")
    with pytest.raises(TransientError):
        await send(billing_db, settings, row.id)
    assert (await reload(billing_db, row.id)).status == "pending"

    sink = start()
    assert await send(billing_db, settings, row.id) == "sent"
    [message] = sink.messages
    sent = await reload(billing_db, row.id)
    assert message["To"] == sent.to_address and sent.to_address.startswith("mia-")
    assert sent.attempts == 1


async def test_an_unreachable_server_is_retried(billing_db, billing_settings, person):
    row = await queued_notice(billing_db, billing_settings, person)
    settings = billing_settings.model_copy(update={"smtp_port": free_port()})
    with pytest.raises(TransientError):
        await send(billing_db, settings, row.id)
    assert (await reload(billing_db, row.id)).status == "pending"


async def test_a_subject_with_a_line_break_is_refused(billing_db, billing_settings, person, smtp):
    owner = person()
    async with billing_db() as session, session.begin():
        account = await AccountDAO(session).ensure_wallet(owner.id, billing_settings.currency)
        with pytest.raises(UnsafeHeader):
            await mail.queue_email(
                session,
                billing_settings,
                account_id=account.id,
                template="low_balance",
                context={
                    "balance": "4\r\nBcc: victim@example.test",
                    "threshold": "5",
                    "grace_hours": 1,
                },
            )

    # a row that holds one anyway (written by other code) is failed without reaching SMTP
    start, settings = smtp
    sink = start()
    async with billing_db() as session, session.begin():
        account.email = "mia@example.test"
        await session.merge(account)
        row = OutgoingEmail(
            account_id=account.id,
            template="low_balance",
            subject="Low\r\nBcc: victim@example.test",
            body_text="b",
        )
        session.add(row)
    assert await send(billing_db, settings, row.id) == "failed"
    assert sink.messages == []
    failed = await reload(billing_db, row.id)
    assert (failed.status, failed.attempts) == ("failed", 0)
    assert "line break" in failed.last_error


def test_the_mail_tasks_carry_billing_s_names():
    from berth_billing.names import QUEUE, Task

    assert mail.MAILER.requeue_task == Task.REQUEUE_STALE_MAIL
    assert mail.MAILER.send_task == f"{QUEUE}.mail.send" == "billing.mail.send"
