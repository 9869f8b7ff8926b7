"""The tickets worker SIGKILLed in a loop under a steady load of customers' new tickets. Each
ticket queues its "we have your request" mail in the ticket's own transaction (one row per
notification key) and the worker sends it (acknowledged late: a killed worker's send comes back
to the next one; the row's status stops a second send). Counted per ticket at the customer's
inbox: notices lost, duplicated (two different messages), and the same message delivered
again (its stable Message-ID: a kill between the SMTP server's acceptance and the worker's
commit, which receivers drop; counted and printed, as no SMTP sender can rule it out)."""

import uuid

import httpx
import pytest
from billing_e2e import sign_in
from support import ADMIN_EMAIL, ADMIN_PASSWORD, register_and_verify

from berth_testing.faults import (
    SteadyLoad,
    distinct_messages,
    kill_worker_repeatedly,
    lost_and_duplicated,
    record,
    repeated_deliveries,
    settle,
)
from berth_testing.oauth import bearer, password_login

FAULT_SERVICES = ("auth", "tickets")
FAULT_WORKERS = ("auth", "tickets")
# one customer opens every ticket: on a slow machine the loop outlasts the 50 open tickets a
# person may have by default
FAULT_ENV = {"TICKETS_OPEN_TICKETS_PER_USER": "10000"}
KILLS = 3
API = "/api/tickets/v1"


@pytest.mark.timeout(900)
def test_new_tickets_survive_tickets_worker_kills_with_every_notice_sent_once(fault_platform):
    plat = fault_platform.platform
    with httpx.Client(base_url=plat.public_url, timeout=30) as edge:
        admin = bearer(password_login(edge, ADMIN_EMAIL, ADMIN_PASSWORD).json()["access_token"])
        desk = f"kills-{uuid.uuid4().hex[:6]}"
        r = edge.post(
            f"{API}/admin/departments", json={"slug": desk, "name": "Kills"}, headers=admin
        )
        assert r.status_code == 201, r.text
        customer = sign_in(edge, register_and_verify(plat, edge))

        def open_ticket() -> str:
            subject = f"Question {uuid.uuid4().hex[:8]}"
            r = edge.post(
                f"{API}/tickets",
                json={"department": desk, "subject": subject, "body": "Hello?"},
                headers=customer.headers,
            )
            assert r.status_code == 201, r.text
            return subject

        with SteadyLoad(open_ticket, pause=0.5) as load:
            kill_worker_repeatedly(plat, "tickets", KILLS, load)
    assert load.refused == [], load.refused[:5]

    def notices_of(subject: str) -> list:
        return [m for m in plat.mails(customer.email) if subject in str(m["Subject"])]

    per_ticket = settle(
        lambda: {subject: distinct_messages(notices_of(subject)) for subject in load.done},
        "every ticket's notice sent",
    )
    lost, duplicated = lost_and_duplicated(per_ticket)
    repeats = sum(repeated_deliveries(notices_of(subject)) for subject in load.done)
    record(
        f"tickets worker kills: {KILLS} SIGKILLs, {len(load.done)} tickets opened, "
        f"notices lost {lost}, duplicated {duplicated}, the same notice delivered again "
        f"(same Message-ID: killed between the SMTP send and its commit) {repeats}"
    )
    assert (lost, duplicated) == (0, 0)
