"""Billing's worker SIGKILLed in a loop under a steady load of top-ups paid at the sandbox
checkout. Each payment's webhook is delivered by a task on the billing queue (acknowledged
late, so a killed worker's task comes back to the next one); the webhook's claim and the
ledger's unique transaction key keep a second delivery from crediting twice. Counted per
payment: credited once, lost (never credited), duplicated (more than one ledger transaction)."""

from collections import Counter

import httpx
import pytest
from billing_e2e import sign_in, sql, top_up_via_checkout
from support import register_and_verify

from berth_testing.faults import (
    SteadyLoad,
    kill_worker_repeatedly,
    lost_and_duplicated,
    record,
    settle,
)

FAULT_SERVICES = ("auth", "billing")
FAULT_WORKERS = ("auth", "billing")
KILLS = 3
AMOUNT = 700


def transactions_per_payment(database_url: str, ids: list[str]) -> Counter:
    rows = sql(
        database_url,
        "SELECT p.id::text, count(t.id) FROM billing.payments p "
        "LEFT JOIN billing.ledger_transactions t ON t.key = 'payment:' || p.id::text "
        "WHERE p.id::text = ANY(:ids) GROUP BY p.id",
        ids=ids,
    )
    return Counter(dict(rows))


@pytest.mark.timeout(900)
def test_top_ups_survive_billing_worker_kills_credited_exactly_once(fault_platform):
    plat, database = fault_platform.platform, fault_platform.database.url
    with httpx.Client(base_url=plat.public_url, timeout=30) as edge:
        who = sign_in(edge, register_and_verify(plat, edge))
        with SteadyLoad(lambda: top_up_via_checkout(edge, who, AMOUNT)["id"]) as load:
            kill_worker_repeatedly(plat, "billing", KILLS, load)
        assert load.refused == [], load.refused[:5]
        per_payment = settle(
            lambda: transactions_per_payment(database, load.done), "every top-up credited"
        )
        balance = edge.get("/api/billing/v1/account", headers=who.headers).json()["balance"]
    lost, duplicated = lost_and_duplicated(per_payment)
    record(
        f"billing worker kills: {KILLS} SIGKILLs, {len(load.done)} top-ups paid, "
        f"credits lost {lost}, duplicated {duplicated}, balance {balance} "
        f"(paid {AMOUNT * len(load.done)})"
    )
    assert (lost, duplicated) == (0, 0)
    assert len(per_payment) == len(load.done)
    assert balance == AMOUNT * len(load.done)
