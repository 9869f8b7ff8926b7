"""Email rendering and delivery: the send task against a local SMTP sink (aiosmtpd)."""

import asyncio
import email
import json
import sys
import uuid
from datetime import UTC, datetime, timedelta
from email.message import Message
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from fixtures_accounts import API, PASSWORD, emails_to, latest_code
from sqlalchemy import select, text

from berth_auth import mail
from berth_auth.models import OutgoingEmail
from berth_common.errors import TransientError
from berth_testing.plugin import unique_email
from berth_testing.processes import ManagedProcess, free_port


class Sink:
    """Collects delivered messages; can refuse every recipient with a fixed reply."""

    def __init__(self, rcpt_reply: str | None = None) -> None:
        self.messages: list[Message] = []
        self.rcpt_reply = rcpt_reply

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if self.rcpt_reply:
            return self.rcpt_reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        self.messages.append(email.message_from_bytes(envelope.content))
        return "250 Message accepted"

    def to(self, address: str) -> list[Message]:
        return [m for m in self.messages if m["To"] == address]


def start_sink(port: int, rcpt_reply: str | None = None) -> tuple[Sink, Controller]:
    sink = Sink(rcpt_reply)
    controller = Controller(sink, hostname="127.0.0.1", port=port)
    controller.start()
    return sink, controller


@pytest.fixture
def smtp_sink(accounts_settings):
    sink, controller = start_sink(accounts_settings.smtp_port)
    yield sink
    controller.stop()


async def queued_email(accounts_http, accounts_db) -> OutgoingEmail:
    address = unique_email()
    response = await accounts_http.post(
        f"{API}/register", json={"email": address, "password": PASSWORD, "name": "Mia"}
    )
    assert response.status_code == 201
    [row] = await emails_to(accounts_db, address)
    return row


async def load(accounts_db, email_id: uuid.UUID) -> OutgoingEmail:
    async with accounts_db() as session:
        return (
            await session.execute(select(OutgoingEmail).where(OutgoingEmail.id == email_id))
        ).scalar_one()


def test_templates_render_every_variable():
    context = {
        "name": "Mia",
        "code": "042137",
        "ttl_minutes": 15,
        "public_url": "https://berth.example",
        "changed_at": "2026-01-01 10:00 UTC",
        "sessions_note": "",
    }
    for template in mail.TEMPLATES:
        rendered = mail.render_email(template, context)
        assert rendered.subject and "\n" not in rendered.subject
        assert "$" not in rendered.subject + rendered.body
        assert "Mia" in rendered.body
    assert "042137" in mail.render_email("verify_email", context).body
    assert "042137" in mail.render_email("password_reset", context).body
    with pytest.raises(KeyError):
        mail.render_email("verify_email", {"name": "x"})
    with pytest.raises(ValueError):
        mail.render_email("../config", context)


async def test_send_task_delivers_once(accounts_http, accounts_db, smtp_sink):
    from berth_auth import tasks
    from berth_auth.worker import runtime

    row = await queued_email(accounts_http, accounts_db)
    code = await latest_code(accounts_db, row.to_address, "verify_email")
    try:
        await runtime.in_transaction(tasks.send_email, email_id=str(row.id))
        await runtime.in_transaction(tasks.send_email, email_id=str(row.id))  # redelivery
    finally:
        await runtime.db.dispose()
        runtime.reset()

    [message] = smtp_sink.to(row.to_address)
    assert message["Message-ID"] == f"<{row.id}@berth.localhost>"
    assert message["Subject"] == row.subject
    assert message["From"] == "Berth <no-reply@berth.localhost>"
    assert code in message.get_payload(decode=True).decode()
    sent = await load(accounts_db, row.id)
    assert (sent.status, sent.attempts) == ("sent", 1)
    assert sent.sent_at is not None
    assert code not in sent.body_text  # redacted once delivered


async def test_unreachable_smtp_is_transient(accounts_http, accounts_db, accounts_settings):
    row = await queued_email(accounts_http, accounts_db)
    settings = accounts_settings.model_copy(update={"smtp_port": free_port()})
    async with accounts_db() as session:
        with pytest.raises(TransientError):
            await mail.send_outgoing_email(session, settings, row.id)
        await session.rollback()
    assert (await load(accounts_db, row.id)).status == "pending"


async def test_temporary_refusal_retries_permanent_refusal_fails(
    accounts_http, accounts_db, accounts_settings
):
    row = await queued_email(accounts_http, accounts_db)
    port = free_port()
    settings = accounts_settings.model_copy(update={"smtp_port": port})

    _, controller = start_sink(port, "450 4.2.0 mailbox busy")
    try:
        async with accounts_db() as session:
            with pytest.raises(TransientError):
                await mail.send_outgoing_email(session, settings, row.id)
            await session.rollback()
    finally:
        controller.stop()
    assert (await load(accounts_db, row.id)).status == "pending"

    _, controller = start_sink(port, "550 5.1.1 no such mailbox")
    try:
        async with accounts_db() as session, session.begin():
            status = await mail.send_outgoing_email(session, settings, row.id)
        async with accounts_db() as session, session.begin():
            again = await mail.send_outgoing_email(session, settings, row.id)
    finally:
        controller.stop()
    failed = await load(accounts_db, row.id)
    assert (status, again, failed.status) == ("failed", "failed", "failed")
    assert failed.last_error.startswith("550")


async def test_unknown_email_id_is_a_no_op(accounts_db, accounts_settings):
    async with accounts_db() as session:
        assert await mail.send_outgoing_email(session, accounts_settings, uuid.uuid4()) == "missing"


async def test_worker_delivers_through_the_broker(
    accounts_http, accounts_db, smtp_sink, accounts_settings, berth_env, repo_root: Path, tmp_path
):
    """Register -> outbox -> RabbitMQ -> celery worker -> SMTP, with real processes."""
    worker = ManagedProcess(
        "auth-worker",
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "berth_auth.worker",
            "worker",
            "-Q",
            "auth",
            "--pool=solo",
            "--without-gossip",
            "--without-mingle",
            "-n",
            f"auth-test-{uuid.uuid4().hex[:6]}@%h",
        ],
        env={**berth_env, "SMTP_PORT": str(accounts_settings.smtp_port)},
        log_dir=tmp_path,
        cwd=repo_root,
    ).start()
    try:
        row = await queued_email(accounts_http, accounts_db)
        for _ in range(300):
            if smtp_sink.to(row.to_address) and (await load(accounts_db, row.id)).status == "sent":
                break
            assert worker.alive(), worker.tail()
            await asyncio.sleep(0.1)
        assert len(smtp_sink.to(row.to_address)) == 1, worker.tail()
        assert (await load(accounts_db, row.id)).status == "sent"
    finally:
        worker.stop()


async def test_emails_pending_past_the_retry_window_are_requeued(accounts_db, accounts_settings):
    now = datetime.now(UTC)
    async with accounts_db() as session, session.begin():
        rows = {
            age: OutgoingEmail(
                to_address=unique_email(),
                template="password_changed",
                subject="s",
                body_text="b",
                status=status,
                created_at=now - age,
            )
            for age, status in (
                (timedelta(hours=2), "pending"),
                (timedelta(minutes=5), "pending"),
                (timedelta(days=3), "pending"),
                (timedelta(hours=3), "sent"),
            )
        }
        session.add_all(rows.values())
    async with accounts_db() as session, session.begin():
        assert await mail.requeue_stale(session) >= 1
        queued = (
            (
                await session.execute(
                    text("SELECT body FROM auth.outbox WHERE headers->>'task' = 'auth.mail.send'")
                )
            )
            .scalars()
            .all()
        )
    queued_ids = {json.loads(body)[1]["email_id"] for body in queued}
    by_age = {age.total_seconds(): str(row.id) for age, row in rows.items()}
    assert by_age[7200] in queued_ids
    assert not {by_age[300], by_age[3 * 86400], by_age[3 * 3600]} & queued_ids
