"""Billing through Traefik with real processes: a person tops up through the sandbox
checkout, the worker delivers the provider's signed webhook to the public endpoint, and the
balance moves exactly once; forged webhooks, other people's money and bad amounts bounce."""

from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from billing_e2e import (
    API,
    balance,
    provider_event,
    sign_in,
    signature,
    top_up_via_checkout,
    wait_for_balance,
)


def test_top_up_through_the_sandbox_checkout_credits_the_balance_once(edge, register_verified):
    alice = sign_in(edge, register_verified())
    assert balance(edge, alice) == 0
    payment = top_up_via_checkout(edge, alice, 2500)
    # the sandbox bank's task posts the signed webhook to the public URL, through Traefik
    wait_for_balance(edge, alice, 2500)
    r = edge.get(f"{API}/payments/{payment['id']}", headers=alice.headers)
    assert r.json()["status"] == "succeeded"
    ledger = edge.get(f"{API}/account/ledger?kind=topup", headers=alice.headers).json()
    assert [(e["amount"], e["caused_by"]) for e in ledger["items"]] == [(2500, "provider:sandbox")]
    # the checkout link is spent
    path = httpx.URL(payment["checkout_url"]).path
    assert edge.post(path, data={"decision": "pay"}, headers=alice.headers).status_code == 409
    usage = edge.get(f"{API}/account/usage?days=7", headers=alice.headers).json()
    assert len(usage["days"]) == 7 and usage["days"][-1]["credits"] == 2500


def test_ten_concurrent_webhook_deliveries_credit_once_and_forgeries_nothing(
    edge, register_verified, berth_env
):
    secret = berth_env["BILLING_WEBHOOK_SECRET"]
    alice = sign_in(edge, register_verified())
    r = edge.post(f"{API}/topups", json={"amount": 4200}, headers=alice.headers)
    payment = r.json()
    body = provider_event(payment)

    forged = [
        {"Berth-Signature": signature("not-the-secret", body)},
        {"Berth-Signature": signature(secret, body, timestamp=1_600_000_000)},
        {},
    ]
    for headers in forged:
        r = edge.post(f"{API}/webhooks/sandbox", content=body, headers=headers)
        assert r.status_code == 400 and r.json()["error"]["code"] == "invalid_signature"
    assert balance(edge, alice) == 0

    headers = {"Content-Type": "application/json", "Berth-Signature": signature(secret, body)}

    def deliver(_: int) -> httpx.Response:
        with httpx.Client(base_url=str(edge.base_url), timeout=30) as client:
            return client.post(f"{API}/webhooks/sandbox", content=body, headers=headers)

    with ThreadPoolExecutor(10) as pool:
        answers = list(pool.map(deliver, range(10)))
    assert [a.status_code for a in answers] == [200] * 10
    assert sorted(a.json()["outcome"] for a in answers) == ["credited"] + ["duplicate"] * 9
    assert balance(edge, alice) == 4200
    entries = edge.get(f"{API}/account/ledger", headers=alice.headers).json()
    assert entries["total"] == 1


def test_people_cannot_see_each_others_billing(edge, register_verified, berth_env, admin_token):
    alice = sign_in(edge, register_verified())
    bob = sign_in(edge, register_verified())
    payment = edge.post(f"{API}/topups", json={"amount": 1000}, headers=alice.headers).json()
    assert edge.get(f"{API}/payments/{payment['id']}", headers=bob.headers).status_code == 404
    assert edge.get(f"{API}/payments", headers=bob.headers).json()["total"] == 0
    assert edge.get(f"{API}/account/ledger", headers=bob.headers).json()["items"] == []
    path = httpx.URL(payment["checkout_url"]).path
    assert edge.get(path, headers=bob.headers).status_code == 404
    assert edge.post(path, data={"decision": "pay"}, headers=bob.headers).status_code == 404
    for url in (f"{API}/invoices/{payment['id']}", f"{API}/invoices/{payment['id']}/pdf"):
        assert edge.get(url, headers=bob.headers).status_code == 404
    # nobody without a token, and no person on the admin side
    assert edge.get(f"{API}/account").status_code == 401
    assert edge.get(f"{API}/admin/accounts", headers=alice.headers).status_code == 403
    admin = {"Authorization": f"Bearer {admin_token}"}
    found = edge.get(f"{API}/admin/accounts?q={alice.id}", headers=admin).json()
    assert [a["owner_id"] for a in found["items"]] == [alice.id]


@pytest.mark.parametrize(
    "body",
    [
        {"amount": -100},
        {"amount": 0},
        {"amount": 10**40},
        {"amount": 99_999_999},
        {"amount": 12.5},
        {"amount": "500"},
        {"amount": 500, "currency": "JPY"},
    ],
)
def test_bad_amounts_are_refused_at_the_edge(edge, register_verified, body):
    alice = sign_in(edge, register_verified())
    r = edge.post(f"{API}/topups", json=body, headers=alice.headers)
    assert r.status_code == 422, r.text
    assert "error" in r.json()
    assert edge.get(f"{API}/payments", headers=alice.headers).json()["total"] == 0


def test_the_price_list_is_public(edge):
    """Visitors see what apps cost before they sign up (the landing page shows it)."""
    r = edge.get("/api/billing/v1/plans")
    assert r.status_code == 200, r.text
    keys = {plan["key"] for plan in r.json()}
    assert {"web-small", "static-small", "worker-small", "agent-small", "n8n-small"} <= keys
    assert edge.get("/api/billing/v1/account").status_code == 401
