"""Tickets by email, as real processes: a customer's reply sent with smtplib to the tickets
SMTP receiver lands in its thread and tells the assignee (through auth's directory and the
dev mailbox); forged addresses and auto-replies are recorded and go nowhere; and a worker
SIGKILLed in the middle of sending that notification sends it exactly once after a restart.

The lifecycle test goes through Traefik (open, staff reply, the customer answers the
notice's Reply-To by email, close, reopen); the others seed their tickets in the database.
"""

import asyncio
import smtplib
import threading
import time
import uuid
from email.message import EmailMessage
from email.utils import make_msgid

import httpx
import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine
from support import PASSWORD

from berth_testing.oauth import bearer, password_login
from berth_testing.platform import mail_text
from berth_testing.processes import free_port
from berth_tickets.config import TicketsSettings
from berth_tickets.notify.tokens import reply_address


@pytest.fixture(scope="module")
def inbound(platform):
    proc = platform.processes.get("tickets-inbound") or platform.start_tickets_inbound()
    yield platform.ports["tickets_inbound"]
    proc.stop()
    platform.processes.pop("tickets-inbound", None)


async def _sql(database_url: str, query: str, **params) -> list:
    engine = create_async_engine(database_url)
    try:
        async with engine.begin() as conn:
            result = await conn.execute(text(query), params)
            return list(result.all()) if result.returns_rows else []
    finally:
        await engine.dispose()


def sql(platform, query: str, **params) -> list:
    return asyncio.run(_sql(platform.env["DATABASE_URL"], query, **params))


def seed_ticket(platform, owner_id: str, assignee_id: str | None) -> tuple[str, int]:
    [(department,)] = sql(
        platform,
        "INSERT INTO tickets.departments (slug, name) VALUES (:s, 'Technical') RETURNING id",
        s=f"d-{uuid.uuid4().hex[:10]}",
    )
    [(ticket_id, number)] = sql(
        platform,
        "INSERT INTO tickets.tickets (owner_id, department_id, subject, status, plan_tier,"
        " assignee_id) VALUES (:o, :d, 'My app does not start', 'waiting_customer', 'standard',"
        " :a) RETURNING id, number",
        o=owner_id,
        d=department,
        a=assignee_id,
    )
    return str(ticket_id), number


def send_reply(port: int, sender: str, to: list[str], body: str, **headers: str) -> str:
    message = EmailMessage()
    message["From"] = sender
    message["To"] = ", ".join(to)
    message["Subject"] = "Re: [T-000001] My app does not start"
    message["Message-ID"] = make_msgid(domain="example.test")
    for name, value in headers.items():
        message[name.replace("_", "-")] = value
    message.set_content(f"{body}\n\nOn Monday, Berth wrote:\n> We restarted your app.\n")
    with smtplib.SMTP("127.0.0.1", port, timeout=20) as client:
        client.send_message(message, from_addr=sender, to_addrs=to)
    return message["Message-ID"]


def ticket_mails(platform, to: str, number: int) -> list:
    """The mails to `to` about ticket `number` (not their sign-up codes)."""
    return [m for m in platform.mails(to) if f"[T-{number:06d}]" in m["Subject"]]


def wait_for(check, timeout: float = 30.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.2)
    raise TimeoutError("not within the time")


def outcome_of(platform, message_id: str):
    rows = sql(
        platform,
        "SELECT outcome, detail, ticket_id FROM tickets.inbound_emails WHERE message_id = :m",
        m=message_id,
    )
    return rows[0] if rows else None


def test_a_reply_by_email_lands_in_the_thread_and_robots_and_forgers_do_not(
    platform, inbound, person, signed_in, admin_token
):
    settings = TicketsSettings()
    agent = signed_in()
    ticket_id, number = seed_ticket(platform, person["id"], agent.id)
    address = reply_address(settings, number, 1)

    message_id = send_reply(inbound, person["email"], [address], "Restarting fixed it, thanks!")
    outcome = wait_for(lambda: outcome_of(platform, message_id))
    assert (outcome[0], str(outcome[2])) == ("accepted", ticket_id), outcome
    [(body, via)] = sql(
        platform,
        "SELECT body, via FROM tickets.ticket_messages WHERE email_message_id = :m",
        m=message_id,
    )
    assert (body, via) == ("Restarting fixed it, thanks!", "email")
    [(status,)] = sql(platform, "SELECT status FROM tickets.tickets WHERE id = :t", t=ticket_id)
    assert status == "open"

    # the assignee is told, once, through auth's directory and the mailbox
    [notice] = wait_for(lambda: ticket_mails(platform, agent.email, number))
    assert notice["Auto-Submitted"] == "auto-replied"
    assert "Restarting fixed it, thanks!" in mail_text(notice)
    assert notice["Reply-To"] is None

    # a forged address and an out-of-office reply: recorded, nothing posted, nobody told
    customer_mail_before = len(platform.mails(person["email"]))
    forged = address[:-30] + ("a" if address[-30] != "a" else "b") + address[-29:]
    forged_id = send_reply(inbound, person["email"], [forged], "Let me in")
    robot_id = send_reply(
        inbound, person["email"], [address], "I am away", Auto_Submitted="auto-replied"
    )
    assert wait_for(lambda: outcome_of(platform, forged_id))[0] == "rejected_token"
    assert wait_for(lambda: outcome_of(platform, robot_id))[0] == "ignored_autoreply"
    messages = sql(
        platform, "SELECT count(*) FROM tickets.ticket_messages WHERE ticket_id = :t", t=ticket_id
    )
    assert messages == [(1,)]
    time.sleep(2)  # would a notification or a bounce follow?
    assert len(ticket_mails(platform, agent.email, number)) == 1
    assert len(platform.mails(person["email"])) == customer_mail_before  # no bounce notice

    # the receiver relays nothing: an address outside the reply domain is refused in the dialogue
    with pytest.raises(smtplib.SMTPRecipientsRefused):
        send_reply(inbound, person["email"], ["someone@example.test"], "relay this")

    # admins see every outcome through the gateway
    r = httpx.get(
        f"{platform.public_url}/api/tickets/v1/admin/inbound-emails",
        headers=bearer(admin_token),
        timeout=20,
    )
    assert r.status_code == 200, r.text
    seen = {item["message_id"]: item["outcome"] for item in r.json()["items"]}
    assert seen[message_id] == "accepted"
    assert seen[forged_id] == "rejected_token"
    assert seen[robot_id] == "ignored_autoreply"
    r = httpx.get(
        f"{platform.public_url}/api/tickets/v1/admin/inbound-emails",
        headers=bearer(person["access_token"]),
        timeout=20,
    )
    assert r.status_code == 403


API = "/api/tickets/v1"


def token_of(edge: httpx.Client, email: str) -> dict[str, str]:
    r = password_login(edge, email, PASSWORD)
    assert r.status_code == 200, r.text
    return bearer(r.json()["access_token"])


def test_lifecycle_with_the_customer_replying_by_email_through_traefik(
    platform, inbound, edge, register_verified, admin_token
):
    admin = bearer(admin_token)
    slug = f"mail-{uuid.uuid4().hex[:6]}"
    r = edge.post(f"{API}/admin/departments", json={"slug": slug, "name": "Mail"}, headers=admin)
    assert r.status_code == 201, r.text
    customer_email, support_email = register_verified(), register_verified()
    support_id = edge.get("/api/auth/v1/me", headers=token_of(edge, support_email)).json()["id"]
    r = edge.put(
        f"/api/auth/v1/admin/users/{support_id}/roles",
        json={"roles": ["user", "support"]},
        headers=admin,
    )
    assert r.status_code == 200, r.text
    customer, support = token_of(edge, customer_email), token_of(edge, support_email)

    # open
    r = edge.post(
        f"{API}/tickets",
        json={"department": slug, "subject": "Mail me", "body": "My cron job stopped."},
        headers=customer,
    )
    assert r.status_code == 201, r.text
    tid, number = r.json()["id"], r.json()["number"]
    # staff reply (and a note the customer must never see, in any mail)
    r = edge.post(
        f"{API}/staff/tickets/{tid}/notes",
        json={"body": "internal: suspected crypto miner"},
        headers=support,
    )
    assert r.status_code == 201, r.text
    r = edge.post(
        f"{API}/staff/tickets/{tid}/replies",
        json={"body": "Which schedule does it use?"},
        headers=support,
    )
    assert r.status_code == 201, r.text

    # the notice in the dev mailbox carries the signed reply address
    def answered() -> list:
        return [
            m
            for m in platform.mails(customer_email)
            if number in m.get("Subject", "") and "Which schedule" in mail_text(m)
        ]

    [notice] = wait_for(answered, timeout=60)
    assert notice["Auto-Submitted"] == "auto-replied"
    reply_to = notice["Reply-To"]
    assert reply_to.startswith("reply+") and reply_to.endswith("@reply.berth.localhost")

    # customer reply by email to the signed address, through the SMTP receiver
    message = EmailMessage()
    message["From"] = customer_email
    message["To"] = reply_to
    message["Subject"] = f"Re: {notice['Subject']}"
    message["Message-ID"] = make_msgid(domain="example.test")
    message["In-Reply-To"] = notice["Message-ID"]
    message.set_content(
        "Every five minutes.\n\nOn Monday, Berth wrote:\n> Which schedule does it use?\n"
    )
    with smtplib.SMTP("127.0.0.1", inbound, timeout=20) as client:
        client.send_message(message)

    def in_thread() -> list:
        r = edge.get(f"{API}/tickets/{tid}", headers=customer)
        return [m for m in r.json()["messages"] if m["body"] == "Every five minutes."]

    [by_mail] = wait_for(in_thread)
    assert by_mail["author_kind"] == "customer"
    r = edge.get(f"{API}/tickets/{tid}", headers=customer)
    assert r.json()["status"] == "open"

    # close, reopen
    r = edge.post(f"{API}/tickets/{tid}/close", headers=customer)
    assert r.status_code == 200 and r.json()["status"] == "closed", r.text
    r = edge.post(f"{API}/tickets/{tid}/reopen", json={"body": "Stopped again"}, headers=customer)
    assert r.status_code == 200 and r.json()["status"] == "open", r.text
    r = edge.get(f"{API}/tickets/{tid}", headers=customer)
    assert [m["body"] for m in r.json()["messages"]] == [
        "My cron job stopped.",
        "Which schedule does it use?",
        "Every five minutes.",
        "Stopped again",
    ]
    # the note reached no mail of anyone
    for mail in platform.mails():
        assert "crypto miner" not in mail.as_string()


class StallingSink:
    """Holds the first RCPT for each address long enough for the test to kill the sender."""

    def __init__(self) -> None:
        self.stalled: set[str] = set()
        self.first_rcpt = threading.Event()
        self.delivered: list[tuple[list[str], bytes]] = []

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        envelope.rcpt_tos.append(address)
        if address not in self.stalled:
            self.stalled.add(address)
            self.first_rcpt.set()
            await asyncio.sleep(15)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        self.delivered.append((list(envelope.rcpt_tos), envelope.content))
        return "250 Message accepted for delivery"


@pytest.fixture
def stalling_sink():
    sink = StallingSink()
    controller = Controller(sink, hostname="127.0.0.1", port=free_port())
    controller.start()
    yield sink, controller.port
    controller.stop()


def test_a_worker_killed_while_sending_a_ticket_notification_sends_it_once(
    platform, inbound, person, signed_in, stalling_sink
):
    sink, port = stalling_sink
    platform.processes.pop("tickets-worker").stop()
    saved_port = platform.env["SMTP_PORT"]
    platform.env["SMTP_PORT"] = str(port)
    try:
        victim = platform.start_worker("tickets")
        agent = signed_in()
        ticket_id, number = seed_ticket(platform, person["id"], agent.id)
        address = reply_address(TicketsSettings(), number, 1)
        send_reply(inbound, person["email"], [address], "Still broken after the restart.")

        assert sink.first_rcpt.wait(45), "the worker never started sending"
        victim.kill()  # SIGKILL to the whole worker process group, mid-SMTP-transaction
        victim.proc.wait(10)
        platform.processes.pop("tickets-worker")
        assert sink.delivered == []

        platform.start_worker("tickets")
        wait_for(lambda: sink.delivered, timeout=60)
        time.sleep(3)  # would a duplicate follow?
        to_agent = [m for m in sink.delivered if agent.email in m[0]]
        assert len(to_agent) == 1
        assert b"Still broken after the restart." in to_agent[0][1]
        rows = sql(
            platform,
            "SELECT status FROM tickets.outgoing_emails WHERE ticket_id = :t",
            t=ticket_id,
        )
        assert rows == [("sent",)]
        messages = sql(
            platform,
            "SELECT count(*) FROM tickets.ticket_messages WHERE ticket_id = :t AND via = 'email'",
            t=ticket_id,
        )
        assert messages == [(1,)]
    finally:
        platform.processes.pop("tickets-worker").stop()
        platform.env["SMTP_PORT"] = saved_port
        platform.start_worker("tickets")
