"""The tickets worker SIGKILLed in a loop under a steady load of customers' new tickets. Each
ticket queues its "we have your request" mail in the ticket's own transaction (one row per
notification key) and the worker sends it (acknowledged late: a killed worker's send comes back
to the next one; the row's status stops a second send). Counted per ticket: mails lost and
duplicated at the customer's inbox."""

import uuid

import httpx
import pytest
from billing_e2e import sign_in
from support import ADMIN_EMAIL, ADMIN_PASSWORD, register_and_verify

from berth_testing.faults import (
    SteadyLoad,
    kill_worker_repeatedly,
    lost_and_duplicated,
    record,
    settle,
)
from berth_testing.oauth import bearer, password_login
from berth_testing.platform import mail_text

FAULT_SERVICES = ("auth", "tickets")
FAULT_WORKERS = ("auth", "tickets")
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

        with SteadyLoad(open_ticket) as load:
            kill_worker_repeatedly(plat, "tickets", KILLS, load)
    assert load.refused == [], load.refused[:5]

    def notices() -> dict[str, int]:
        inbox = [mail_text(m) + str(m["Subject"]) for m in plat.mails(customer.email)]
        return {subject: sum(subject in text for text in inbox) for subject in load.done}

    per_ticket = settle(notices, "every ticket's notice sent")
    lost, duplicated = lost_and_duplicated(per_ticket)
    record(
        f"tickets worker kills: {KILLS} SIGKILLs, {len(load.done)} tickets opened, "
        f"notices lost {lost}, duplicated {duplicated}"
    )
    assert (lost, duplicated) == (0, 0)
