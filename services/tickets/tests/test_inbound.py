"""Replies by email: a reply to the signed address lands in its thread once; forged,
expired and revoked addresses, strangers and robots are recorded and go nowhere."""

import uuid
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage

import pytest
from fixtures_mail import address, deliver, emails_of, make_ticket, messages_of, reply_mail
from sqlalchemy import select

from berth_tickets.inbound.models import InboundEmail, InboundRawEmail
from berth_tickets.models import Ticket, TicketEvent
from berth_tickets.notify.tokens import reply_address


async def ticket_row(db, ticket_id: uuid.UUID) -> Ticket:
    async with db() as session:
        return await session.get(Ticket, ticket_id)


async def test_a_reply_to_the_signed_address_lands_in_the_thread_without_the_quote(
    tickets_db, tickets_settings, person, directory
):
    known, email_of = directory
    owner, agent = person(), person(["user", "support"])
    known[owner.id] = address(owner)
    ticket = await make_ticket(tickets_db, owner, assignee_id=agent.id)
    to, raw = reply_mail(tickets_settings, ticket, address(owner).upper())  # case is no matter

    row = await deliver(tickets_db, tickets_settings, email_of, raw, [to])

    assert (row.outcome, row.ticket_id) == ("accepted", ticket.id)
    thread = await messages_of(tickets_db, ticket.id)
    assert len(thread) == 2
    reply = thread[-1]
    assert (reply.body, reply.via, reply.author_kind) == (
        "Thanks, restarting fixed it.",
        "email",
        "customer",
    )
    assert reply.id == row.ticket_message_id
    after = await ticket_row(tickets_db, ticket.id)
    assert after.status == "open" and after.last_customer_message_at is not None
    # the assignee hears of it, once
    [notice] = await emails_of(tickets_db, ticket.id)
    assert notice.recipient_id == agent.id and notice.template == "ticket_notice"
    assert notice.notification_key == f"customer_replied:{reply.id}:{agent.id}"
    assert "Thanks, restarting fixed it." in notice.body_text
    assert notice.reply_to is None  # staff answer in their screens


async def test_the_thread_is_the_address_s_never_the_subject_s(
    tickets_db, tickets_settings, person, directory
):
    known, email_of = directory
    owner = person()
    known[owner.id] = address(owner)
    mine = await make_ticket(tickets_db, owner)
    other = await make_ticket(tickets_db, owner, subject="Another thing")
    # the subject names `other`; the address names `mine`
    to, raw = reply_mail(
        tickets_settings, mine, address(owner), subject=f"Re: [T-{other.number:06d}] Another thing"
    )
    row = await deliver(tickets_db, tickets_settings, email_of, raw, [to])
    assert row.ticket_id == mine.id
    assert len(await messages_of(tickets_db, mine.id)) == 2
    assert len(await messages_of(tickets_db, other.id)) == 1


async def test_a_reply_to_a_closed_ticket_reopens_it(
    tickets_db, tickets_settings, person, directory
):
    known, email_of = directory
    owner = person()
    known[owner.id] = address(owner)
    ticket = await make_ticket(tickets_db, owner, status="closed")
    to, raw = reply_mail(tickets_settings, ticket, address(owner), "It broke again.")
    row = await deliver(tickets_db, tickets_settings, email_of, raw, [to])
    assert row.outcome == "accepted" and row.detail == "reopened the closed ticket"
    after = await ticket_row(tickets_db, ticket.id)
    assert (after.status, after.closed_at, after.reopened_count) == ("open", None, 1)
    async with tickets_db() as session:
        kinds = (
            (
                await session.execute(
                    select(TicketEvent.kind).where(TicketEvent.ticket_id == ticket.id)
                )
            )
            .scalars()
            .all()
        )
    assert kinds == ["reopened"]


def forge(address: str) -> str:
    """The same address with the last character of its signature changed."""
    local, _, domain = address.partition("@")
    last = "a" if local[-1] != "a" else "b"
    return f"{local[:-1]}{last}@{domain}"


async def test_forged_expired_and_revoked_addresses_are_rejected_and_recorded(
    tickets_http, tickets_db, tickets_settings, person, staff, directory
):
    known, email_of = directory
    owner = person()
    known[owner.id] = address(owner)
    ticket = await make_ticket(tickets_db, owner)
    good = reply_address(tickets_settings, ticket.number, ticket.reply_token_version)
    # another ticket's number under this ticket's signature
    other_number = good.replace(f"t{ticket.number}-", f"t{ticket.number + 1}-")
    expired = reply_address(
        tickets_settings,
        ticket.number,
        ticket.reply_token_version,
        now=datetime.now(UTC) - timedelta(days=tickets_settings.reply_token_days + 2),
    )
    cases = {
        forge(good): "bad signature",
        other_number: "bad signature",
        expired: "expired token",
        f"reply+nonsense@{tickets_settings.reply_domain}": "malformed token",
    }
    for to, reason in cases.items():
        _, raw = reply_mail(tickets_settings, ticket, address(owner), to=to)
        row = await deliver(tickets_db, tickets_settings, email_of, raw, [to])
        assert (row.outcome, row.detail, row.ticket_id) == ("rejected_token", reason, None)

    # staff revoke the ticket's addresses: the one handed out before stops working
    revoke = f"/api/tickets/v1/staff/tickets/{ticket.id}/reply-addresses/revoke"
    r = await tickets_http.post(revoke, headers=owner.headers)
    assert r.status_code == 403  # not the customer's to do
    r = await tickets_http.post(revoke, headers=staff.headers)
    assert r.status_code == 200 and r.json() == {"reply_token_version": 2}, r.text
    r = await tickets_http.post(
        f"/api/tickets/v1/staff/tickets/{uuid.uuid4()}/reply-addresses/revoke",
        headers=staff.headers,
    )
    assert r.status_code == 404
    _, raw = reply_mail(tickets_settings, ticket, address(owner), to=good)
    row = await deliver(tickets_db, tickets_settings, email_of, raw, [good])
    assert (row.outcome, row.detail) == ("rejected_token", "revoked token (older version)")
    fresh = reply_address(tickets_settings, ticket.number, 2)
    _, raw = reply_mail(tickets_settings, ticket, address(owner), "From the new address", to=fresh)
    row = await deliver(tickets_db, tickets_settings, email_of, raw, [fresh])
    assert row.outcome == "accepted"

    assert [m.body for m in await messages_of(tickets_db, ticket.id)][1:] == [
        "From the new address"
    ]
    assert await emails_of(tickets_db, ticket.id) == []  # no bounce notice, no loop


async def test_a_stranger_writing_to_a_valid_address_is_rejected(
    tickets_db, tickets_settings, person, directory
):
    known, email_of = directory
    owner = person()
    known[owner.id] = address(owner)
    ticket = await make_ticket(tickets_db, owner)
    to, raw = reply_mail(tickets_settings, ticket, "mallory@example.test")
    row = await deliver(tickets_db, tickets_settings, email_of, raw, [to])
    assert (row.outcome, row.ticket_id) == ("rejected_unknown", ticket.id)
    assert len(await messages_of(tickets_db, ticket.id)) == 1


AUTOMATIC = [
    ({"Auto-Submitted": "auto-replied"}, "ada@example.test"),
    ({"Auto-Submitted": "auto-generated"}, "ada@example.test"),
    ({"X-Autoreply": "yes"}, "ada@example.test"),
    ({"X-Autorespond": "Out of office"}, "ada@example.test"),
    ({"Precedence": "bulk"}, "ada@example.test"),
    ({"Precedence": "auto_reply"}, "ada@example.test"),
    ({"Precedence": "junk"}, "ada@example.test"),
    ({"Precedence": "list"}, "ada@example.test"),
    ({}, ""),  # an empty return path: a bounce
    ({}, "MAILER-DAEMON@mx.example.test"),
]


@pytest.mark.parametrize(("headers", "mail_from"), AUTOMATIC)
async def test_machine_written_mail_is_ignored_with_no_message_and_no_notification(
    tickets_db, tickets_settings, person, directory, headers, mail_from
):
    known, email_of = directory
    owner, agent = person(), person(["user", "support"])
    known[owner.id] = address(owner)
    ticket = await make_ticket(tickets_db, owner, assignee_id=agent.id)
    to, raw = reply_mail(
        tickets_settings, ticket, address(owner), "I am out of office", headers=headers
    )
    row = await deliver(tickets_db, tickets_settings, email_of, raw, [to], mail_from=mail_from)
    assert row.outcome == "ignored_autoreply", row.detail
    assert len(await messages_of(tickets_db, ticket.id)) == 1
    assert await emails_of(tickets_db, ticket.id) == []


async def test_a_delivery_report_is_ignored(tickets_db, tickets_settings, person, directory):
    known, email_of = directory
    owner = person()
    known[owner.id] = address(owner)
    ticket = await make_ticket(tickets_db, owner)
    to = reply_address(tickets_settings, ticket.number, ticket.reply_token_version)
    raw = (
        f"From: Mail Delivery System <postmaster@mx.example.test>\r\nTo: {to}\r\n"
        "Subject: Undelivered Mail\r\nMessage-ID: <dsn-1@mx.example.test>\r\nMIME-Version: 1.0\r\n"
        'Content-Type: multipart/report; report-type=delivery-status; boundary="b"\r\n\r\n'
        "--b\r\nContent-Type: text/plain\r\n\r\nDelivery failed.\r\n"
        "--b\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx\r\n\r\n"
        "--b--\r\n"
    ).encode()
    row = await deliver(tickets_db, tickets_settings, email_of, raw, [to], mail_from=address(owner))
    assert (row.outcome, row.detail) == (
        "ignored_autoreply",
        "a delivery or read report (multipart/report)",
    )
    assert len(await messages_of(tickets_db, ticket.id)) == 1


async def test_auto_submitted_no_is_a_person_writing(
    tickets_db, tickets_settings, person, directory
):
    known, email_of = directory
    owner = person()
    known[owner.id] = address(owner)
    ticket = await make_ticket(tickets_db, owner)
    to, raw = reply_mail(tickets_settings, ticket, address(owner), headers={"Auto-Submitted": "no"})
    row = await deliver(tickets_db, tickets_settings, email_of, raw, [to])
    assert row.outcome == "accepted"


async def test_the_same_message_id_twice_and_a_reply_all_land_once(
    tickets_db, tickets_settings, person, directory
):
    known, email_of = directory
    owner, agent = person(), person(["user", "support"])
    known[owner.id] = address(owner)
    ticket = await make_ticket(tickets_db, owner, assignee_id=agent.id)
    first = reply_address(tickets_settings, ticket.number, ticket.reply_token_version)
    # an address from an older notification of the same ticket (another expiry day)
    older = reply_address(
        tickets_settings,
        ticket.number,
        ticket.reply_token_version,
        now=datetime.now(UTC) - timedelta(days=3),
    )
    message_id = f"<{uuid.uuid4().hex}@example.test>"
    # reply-all: one mail to both addresses in one SMTP transaction
    _, raw = reply_mail(tickets_settings, ticket, address(owner), to=first, message_id=message_id)
    row = await deliver(tickets_db, tickets_settings, email_of, raw, [first, older])
    assert row.outcome == "accepted"
    # the sender's server delivers the same mail again (or once per address)
    again = await deliver(tickets_db, tickets_settings, email_of, raw, [older])
    assert (again.outcome, again.ticket_id) == ("duplicate", ticket.id)

    assert len(await messages_of(tickets_db, ticket.id)) == 2
    assert len(await emails_of(tickets_db, ticket.id)) == 1


async def test_processing_a_mail_twice_changes_nothing(
    tickets_db, tickets_settings, person, directory
):
    """A redelivered task (a worker killed after its commit, before its ack) is a no-op."""
    from berth_tickets.inbound import service as inbound

    known, email_of = directory
    owner = person()
    known[owner.id] = address(owner)
    ticket = await make_ticket(tickets_db, owner)
    to, raw = reply_mail(tickets_settings, ticket, address(owner))
    row = await deliver(tickets_db, tickets_settings, email_of, raw, [to])
    async with tickets_db() as session:
        raw_id = (
            await session.execute(
                select(InboundRawEmail.id).where(InboundRawEmail.inbound_email_id == row.id)
            )
        ).scalar_one()
    async with tickets_db() as session, session.begin():
        same = await inbound.process(session, tickets_settings, raw_id, email_of)
    assert same.id == row.id
    async with tickets_db() as session:
        rows = (
            (await session.execute(select(InboundEmail).where(InboundEmail.ticket_id == ticket.id)))
            .scalars()
            .all()
        )
    assert len(rows) == 1
    assert len(await messages_of(tickets_db, ticket.id)) == 2


async def test_admins_see_the_last_inbound_outcomes(
    tickets_http, tickets_db, tickets_settings, person, admin, directory
):
    known, email_of = directory
    owner = person()
    known[owner.id] = address(owner)
    ticket = await make_ticket(tickets_db, owner)
    to, raw = reply_mail(tickets_settings, ticket, "mallory@example.test")
    await deliver(tickets_db, tickets_settings, email_of, raw, [to])

    url = "/api/tickets/v1/admin/inbound-emails"
    r = await tickets_http.get(url, params={"outcome": "rejected_unknown"}, headers=admin.headers)
    assert r.status_code == 200, r.text
    page = r.json()
    newest = page["items"][0]
    assert (newest["outcome"], newest["ticket_id"]) == ("rejected_unknown", str(ticket.id))
    assert newest["from_address"] == "mallory@example.test"
    assert "unprocessed" in page and "raw" not in newest

    r = await tickets_http.get(url, headers=owner.headers)
    assert r.status_code == 403
    r = await tickets_http.get(url, params={"outcome": "lost"}, headers=admin.headers)
    assert r.status_code == 422


async def test_an_html_only_reply_becomes_its_text_and_nothing_of_its_markup(
    tickets_db, tickets_settings, person, directory
):
    known, email_of = directory
    owner = person()
    known[owner.id] = address(owner)
    ticket = await make_ticket(tickets_db, owner)
    to = reply_address(tickets_settings, ticket.number, ticket.reply_token_version)
    message = EmailMessage()
    message["From"] = address(owner)
    message["To"] = to
    message["Subject"] = "Re: ticket"
    message["Message-ID"] = f"<{uuid.uuid4().hex}@example.test>"
    message.set_content(
        "<p>Fixed &amp; <b>done</b></p><script>alert(document.cookie)</script>"
        '<img src=x onerror="alert(1)">',
        subtype="html",
    )
    row = await deliver(tickets_db, tickets_settings, email_of, bytes(message), [to])
    assert row.outcome == "accepted"
    body = (await messages_of(tickets_db, ticket.id))[-1].body
    assert body == "Fixed & done"


async def test_garbage_is_recorded_not_retried_forever(
    tickets_db, tickets_settings, person, directory
):
    known, email_of = directory
    owner = person()
    known[owner.id] = address(owner)
    ticket = await make_ticket(tickets_db, owner)
    to = reply_address(tickets_settings, ticket.number, ticket.reply_token_version)
    row = await deliver(
        tickets_db, tickets_settings, email_of, b"\x00\xff\xfe not a mail at all", [to]
    )
    assert (row.outcome, row.ticket_id) == ("rejected_unknown", ticket.id)
    assert row.message_id.startswith("<sha256-")
    assert len(await messages_of(tickets_db, ticket.id)) == 1
