"""Notifications: once per key, plain text, threaded per ticket, a signed reply address for
customers only, `Auto-Submitted: auto-replied` on all, and never an internal note."""

import uuid

import pytest
from fixtures_mail import address, deliver, emails_of, make_ticket, reply_mail
from fixtures_tickets import API, make_department, open_ticket
from pydantic import SecretStr

from berth_common.mail import UnsafeHeader, build_message
from berth_testing.processes import free_port
from berth_testing.smtp import start_sink
from berth_tickets import mail
from berth_tickets.enums import NotificationKind
from berth_tickets.models import InternalNote, OutgoingEmail, Ticket, TicketMessage
from berth_tickets.notify.service import notify
from berth_tickets.notify.tokens import TokenRefused, read_address, reply_address


@pytest.fixture
def smtp(tickets_settings):
    """A sink on a fresh port, and settings that send to it."""
    port = free_port()
    sink, controller = start_sink(port)
    yield sink, tickets_settings.model_copy(update={"smtp_port": port})
    controller.stop()


async def send_all(db, settings, ticket_id, addresses: dict[uuid.UUID, str]) -> None:
    async def address_of(email: OutgoingEmail) -> str | None:
        return addresses.get(email.recipient_id)

    for email in await emails_of(db, ticket_id):
        async with db() as session, session.begin():
            await mail.send_outgoing_email(session, settings, email.id, address_of)


async def test_a_customer_notice_is_threaded_signed_and_says_it_is_automatic(
    tickets_db, tickets_settings, person, smtp
):
    sink, settings = smtp
    owner = person()
    ticket = await make_ticket(tickets_db, owner)
    async with tickets_db() as session, session.begin():
        message = TicketMessage(
            ticket_id=ticket.id, author_kind="staff", body="We restarted your app."
        )
        session.add(message)
        await session.flush()
        email_id = await notify(
            session,
            ticket,
            NotificationKind.STAFF_REPLIED,
            settings=tickets_settings,
            recipient_id=owner.id,
            key=str(message.id),
            detail=message.body,
        )
        # the same notice again (a retried request, a redelivered task): nothing new
        again = await notify(
            session,
            ticket,
            NotificationKind.STAFF_REPLIED,
            settings=tickets_settings,
            recipient_id=owner.id,
            key=str(message.id),
            detail=message.body,
        )
    assert email_id is not None and again is None
    [row] = await emails_of(tickets_db, ticket.id)
    assert row.subject == f"[T-{ticket.number:06d}] My app does not start"

    await send_all(tickets_db, settings, ticket.id, {owner.id: address(owner)})
    await send_all(tickets_db, settings, ticket.id, {owner.id: address(owner)})  # redelivered
    [sent] = sink.to(address(owner))
    assert sent["Auto-Submitted"] == "auto-replied"
    assert sent["Message-ID"] == f"<{email_id}@berth.localhost>"
    assert sent["In-Reply-To"] == sent["References"] == f"<ticket-{ticket.id}@berth.localhost>"
    assert not sent.is_multipart() and sent.get_content_type() == "text/plain"
    body = sent.get_payload(decode=True).decode()
    assert "We restarted your app." in body and "Reply to this email" in body
    token = read_address(tickets_settings, sent["Reply-To"])
    assert (token.number, token.version) == (ticket.number, ticket.reply_token_version)


async def test_staff_closing_or_merging_tells_the_customer_with_the_address_to_write_on(
    tickets_http, tickets_db, tickets_settings, services, person, staff, admin
):
    department = await make_department(tickets_http, admin)
    customer = person()
    services.person(customer)
    first = await open_ticket(tickets_http, customer, department, body="first copy")
    second = await open_ticket(tickets_http, customer, department, body="second copy")

    r = await tickets_http.patch(
        f"{API}/staff/tickets/{first['id']}", json={"status": "closed"}, headers=staff.headers
    )
    assert r.status_code == 200, r.text
    [closed] = [
        e
        for e in await emails_of(tickets_db, uuid.UUID(first["id"]))
        if "closed" in e.notification_key
    ]
    assert closed.recipient_id == customer.id and closed.reply_to
    assert "Your ticket was closed." in closed.body_text

    r = await tickets_http.post(
        f"{API}/staff/tickets/{second['id']}/merge",
        json={"into_ticket_id": first["id"]},
        headers=staff.headers,
    )
    assert r.status_code == 200, r.text
    [merged] = [
        e
        for e in await emails_of(tickets_db, uuid.UUID(first["id"]))
        if e.notification_key.startswith("merged:")
    ]
    assert merged.notification_key == f"merged:{second['id']}:{customer.id}"
    assert second["number"] in merged.body_text
    # its reply address is the ticket the thread goes on in
    token = read_address(tickets_settings, merged.reply_to)
    async with tickets_db() as session:
        target = await session.get(Ticket, uuid.UUID(first["id"]))
    assert token.number == target.number


async def test_without_a_reply_secret_a_notice_has_no_reply_address(
    tickets_db, tickets_settings, person
):
    settings = tickets_settings.model_copy(update={"reply_secret": None})
    owner = person()
    ticket = await make_ticket(tickets_db, owner)
    async with tickets_db() as session, session.begin():
        await notify(
            session,
            ticket,
            NotificationKind.CLOSED,
            settings=settings,
            recipient_id=owner.id,
            key="closed-1",
        )
    [row] = await emails_of(tickets_db, ticket.id)
    assert row.reply_to is None and "Reply to this email" not in row.body_text


async def test_an_internal_note_reaches_no_email(
    tickets_db, tickets_settings, person, directory, smtp
):
    sink, settings = smtp
    known, email_of = directory
    owner, agent = person(), person(["user", "support"])
    known[owner.id] = address(owner)
    secret = f"NOTE-{uuid.uuid4().hex}: customer is on the abuse watchlist"
    ticket = await make_ticket(tickets_db, owner, assignee_id=agent.id)
    async with tickets_db() as session, session.begin():
        session.add(InternalNote(ticket_id=ticket.id, author_id=agent.id, body=secret))
        reply = TicketMessage(
            ticket_id=ticket.id, author_kind="staff", author_id=agent.id, body="Fixed."
        )
        session.add(reply)
        await session.flush()
        for kind, recipient in (
            (NotificationKind.STAFF_REPLIED, owner.id),
            (NotificationKind.CLOSED, owner.id),
            (NotificationKind.SLA_BREACHED, agent.id),
        ):
            await notify(
                session,
                ticket,
                kind,
                settings=tickets_settings,
                recipient_id=recipient,
                key=str(reply.id),
                detail=reply.body,
            )
    # the customer answers by email: the assignee is told, quoting the reply only
    to, raw = reply_mail(tickets_settings, ticket, address(owner), "Thanks!")
    await deliver(tickets_db, tickets_settings, email_of, raw, [to])

    rows = await emails_of(tickets_db, ticket.id)
    assert len(rows) == 4
    await send_all(
        tickets_db, settings, ticket.id, {owner.id: address(owner), agent.id: "a@x.test"}
    )
    assert len(sink.messages) == 4
    for sent in sink.messages:
        assert secret not in sent.as_string()
        assert "watchlist" not in sent.get_payload(decode=True).decode()
    for row in rows:
        assert secret not in row.body_text and secret not in row.subject


def test_addresses_survive_a_secret_rotation_and_case_folding(tickets_settings):
    old = tickets_settings.model_copy(update={"reply_secret": SecretStr("old-secret-0123456789")})
    address = reply_address(old, 42, 1)
    assert address.startswith("reply+t42-v1-e") and address.endswith("@reply.berth.localhost")
    assert len(address.partition("@")[0]) <= 64

    rotated = tickets_settings.model_copy(
        update={
            "reply_secret": SecretStr("new-secret-9876543210"),
            "reply_secret_previous": SecretStr("old-secret-0123456789"),
        }
    )
    assert read_address(rotated, address.upper()).number == 42
    assert reply_address(rotated, 42, 1) != address  # new addresses use the new secret

    retired = rotated.model_copy(update={"reply_secret_previous": None})
    with pytest.raises(TokenRefused, match="bad signature"):
        read_address(retired, address)
    with pytest.raises(TokenRefused, match="not a reply address"):
        read_address(rotated, address.replace("reply.berth.localhost", "evil.test"))


def test_a_header_a_service_adds_cannot_inject_or_override(tickets_settings):
    row = OutgoingEmail(
        id=uuid.uuid4(),
        to_address="ada@example.test",
        subject="Hello",
        body_text="Hi",
        reply_to="reply+x@reply.berth.localhost\r\nBcc: everyone@example.test",
    )
    with pytest.raises(UnsafeHeader):
        build_message(row, tickets_settings)
    row.reply_to = None
    with pytest.raises(ValueError, match="may not set the Bcc header"):
        build_message(row, tickets_settings, {"Bcc": "everyone@example.test"})
    built = build_message(row, tickets_settings, {"References": "<ticket-1@berth.localhost>"})
    assert built["Auto-Submitted"] == "auto-replied" and "Reply-To" not in built


def test_every_platform_mail_says_it_is_automatic(tickets_settings):
    """The common message builder: auth's codes and billing's notices get the header too."""

    class Row:
        id = uuid.uuid4()
        to_address = "ada@example.test"
        subject = "Your code"
        body_text = "123456"

    built = build_message(Row(), tickets_settings)
    assert built["Auto-Submitted"] == "auto-replied" and built["Reply-To"] is None
