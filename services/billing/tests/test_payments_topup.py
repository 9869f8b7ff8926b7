"""Top-ups through the sandbox provider: amounts, checkout page, signed webhooks, isolation."""

import asyncio
import time
import uuid

import httpx
import pytest
from fixtures_billing import API, balance, event_body, signed, sql, top_up
from pydantic import SecretStr

from berth_billing.payments import service as payments
from berth_billing.payments.provider import SandboxProvider


@pytest.mark.parametrize(
    "body",
    [
        {"amount": -500},
        {"amount": 0},
        {"amount": 10**30},
        {"amount": 10**12},  # within the shape, beyond the installation's maximum
        {"amount": 10.5},
        {"amount": 1000.0},
        {"amount": "1000"},
        {"amount": True},
        {"amount": None},
        {},
        {"amount": 1000, "currency": "USD"},
        {"amount": 1000, "currency": "euro"},
        {"amount": 1000, "extra": 1},
    ],
)
async def test_bad_amounts_are_refused(billing_http, person, body):
    alice = person()
    r = await billing_http.post(f"{API}/topups", json=body, headers=alice.headers)
    assert 400 <= r.status_code < 500, r.text
    assert r.json()["error"]["code"] in (
        "validation_error",
        "amount_out_of_range",
        "currency_mismatch",
    )
    r = await billing_http.get(f"{API}/payments", headers=alice.headers)
    assert r.json()["total"] == 0


async def test_the_installation_currency_is_accepted_in_any_case(billing_http, person):
    r = await billing_http.post(
        f"{API}/topups", json={"amount": 1000, "currency": "eur"}, headers=person().headers
    )
    assert r.status_code == 201 and r.json()["currency"] == "EUR"


async def test_checkout_page_pay_then_the_sandbox_webhook_credits_once(
    billing_http, billing_app, billing_settings, person
):
    alice = person()
    r = await billing_http.post(f"{API}/topups", json={"amount": 2500}, headers=alice.headers)
    assert r.status_code == 201
    payment = r.json()
    assert payment["status"] == "pending" and payment["amount"] == 2500
    path = httpx.URL(payment["checkout_url"]).path
    page = await billing_http.get(path, headers=alice.headers)
    assert page.status_code == 200 and "25.00 EUR" in page.text and 'value="pay"' in page.text
    # someone else holding the link sees nothing
    assert (await billing_http.get(path, headers=person().headers)).status_code == 404
    assert (await billing_http.get(path + "x", headers=alice.headers)).status_code == 404

    r = await billing_http.post(path, data={"decision": "pay"}, headers=alice.headers)
    assert r.status_code == 200 and "being confirmed" in r.text
    # the link is single-use
    again = await billing_http.post(path, data={"decision": "pay"}, headers=alice.headers)
    assert again.status_code == 409

    # the sandbox bank's webhook, as its task sends it, into this app
    transport = httpx.ASGITransport(app=billing_app)
    async with (
        httpx.AsyncClient(transport=transport, base_url="http://testserver") as bank,
        billing_app.state.db.sessionmaker() as session,
    ):
        status = await payments.deliver_sandbox_webhook(
            session,
            billing_settings,
            SandboxProvider(billing_settings),
            bank,
            payment_id=uuid.UUID(payment["id"]),
            event_id="evt_" + uuid.uuid4().hex,
            outcome="payment.succeeded",
        )
    assert status == 200
    assert await balance(billing_http, alice) == 2500
    r = await billing_http.get(f"{API}/payments/{payment['id']}", headers=alice.headers)
    assert r.json()["status"] == "succeeded" and r.json()["checkout_url"] is None
    ledger = (await billing_http.get(f"{API}/account/ledger", headers=alice.headers)).json()
    assert [(e["kind"], e["amount"]) for e in ledger["items"]] == [("topup", 2500)]
    assert ledger["items"][0]["caused_by"] == "provider:sandbox"


async def test_ten_concurrent_deliveries_of_one_event_credit_once(
    billing_http, billing_settings, person
):
    alice = person()
    r = await billing_http.post(f"{API}/topups", json={"amount": 1234}, headers=alice.headers)
    body = event_body(billing_settings, r.json())
    headers = signed(billing_settings, body)
    answers = await asyncio.gather(
        *(
            billing_http.post(f"{API}/webhooks/sandbox", content=body, headers=headers)
            for _ in range(10)
        )
    )
    assert [a.status_code for a in answers] == [200] * 10
    outcomes = sorted(a.json()["outcome"] for a in answers)
    assert outcomes == ["credited"] + ["duplicate"] * 9
    assert await balance(billing_http, alice) == 1234


async def test_two_different_events_for_one_payment_credit_once(
    billing_http, billing_settings, person
):
    alice = person()
    payment = (
        await billing_http.post(f"{API}/topups", json={"amount": 800}, headers=alice.headers)
    ).json()
    bodies = [event_body(billing_settings, payment) for _ in range(4)]
    answers = await asyncio.gather(
        *(
            billing_http.post(
                f"{API}/webhooks/sandbox", content=b, headers=signed(billing_settings, b)
            )
            for b in bodies
        )
    )
    assert sorted(a.json()["outcome"] for a in answers) == ["already_succeeded"] * 3 + ["credited"]
    assert await balance(billing_http, alice) == 800


async def test_forged_stale_or_unsigned_webhooks_are_rejected_and_credit_nothing(
    billing_http, billing_settings, person
):
    alice = person()
    payment = (
        await billing_http.post(f"{API}/topups", json={"amount": 900}, headers=alice.headers)
    ).json()
    body = event_body(billing_settings, payment)
    forged = SandboxProvider(
        billing_settings.model_copy(update={"webhook_secret": SecretStr("not-it")})
    )
    stale = int(time.time()) - billing_settings.webhook_tolerance_seconds - 5
    attempts = [
        {"Berth-Signature": forged.sign(body)},
        signed(billing_settings, body, timestamp=stale),
        {"Berth-Signature": "t=abc,v1=00"},
        {},
    ]
    for headers in attempts:
        r = await billing_http.post(f"{API}/webhooks/sandbox", content=body, headers=headers)
        assert r.status_code == 400 and r.json()["error"]["code"] == "invalid_signature"
    # a signature over another body does not carry over
    other = event_body(billing_settings, {**payment, "amount": 90000})
    r = await billing_http.post(
        f"{API}/webhooks/sandbox", content=other, headers=signed(billing_settings, body)
    )
    assert r.status_code == 400
    assert await balance(billing_http, alice) == 0
    # a correctly signed event whose amount differs from the payment's credits nothing either
    r = await billing_http.post(
        f"{API}/webhooks/sandbox", content=other, headers=signed(billing_settings, other)
    )
    assert r.json()["outcome"] == "amount_mismatch"
    assert await balance(billing_http, alice) == 0


async def test_a_declined_payment_credits_nothing(billing_http, billing_settings, person):
    alice = person()
    payment = (
        await billing_http.post(f"{API}/topups", json={"amount": 700}, headers=alice.headers)
    ).json()
    body = event_body(billing_settings, payment, type_="payment.failed")
    r = await billing_http.post(
        f"{API}/webhooks/sandbox", content=body, headers=signed(billing_settings, body)
    )
    assert r.json()["outcome"] == "failed"
    success = event_body(billing_settings, payment)
    r = await billing_http.post(
        f"{API}/webhooks/sandbox", content=success, headers=signed(billing_settings, success)
    )
    assert r.json()["outcome"] == "already_failed"
    assert await balance(billing_http, alice) == 0


async def test_idempotency_key_returns_the_first_payment_and_refuses_another_body(
    billing_http, billing_db, person
):
    alice = person()
    key = {"Idempotency-Key": f"topup-{uuid.uuid4().hex}"}
    first, second = await asyncio.gather(
        *(
            billing_http.post(
                f"{API}/topups", json={"amount": 1500}, headers={**alice.headers, **key}
            )
            for _ in range(2)
        )
    )
    assert first.status_code == second.status_code == 201
    assert first.json()["id"] == second.json()["id"]
    other = await billing_http.post(
        f"{API}/topups", json={"amount": 1600}, headers={**alice.headers, **key}
    )
    assert other.status_code == 422 and other.json()["error"]["code"] == "idempotency_key_reused"
    [(count,)] = await sql(
        billing_db, "SELECT count(*) FROM billing.payments WHERE owner_id = :o", o=alice.id
    )
    assert count == 1
    # the same key from someone else is their own key
    r = await billing_http.post(
        f"{API}/topups", json={"amount": 1600}, headers={**person().headers, **key}
    )
    assert r.status_code == 201


async def test_people_never_see_each_others_money(billing_http, billing_settings, person):
    alice, bob = person(), person()
    payment = await top_up(billing_http, billing_settings, alice, 3000)
    r = await billing_http.get(f"{API}/payments/{payment['id']}", headers=bob.headers)
    assert r.status_code == 404
    assert (await billing_http.get(f"{API}/payments", headers=bob.headers)).json()["total"] == 0
    bob_ledger = await billing_http.get(f"{API}/account/ledger", headers=bob.headers)
    assert bob_ledger.json()["items"] == []
    assert await balance(billing_http, bob) == 0
    assert await balance(billing_http, alice) == 3000
    # a machine client is not a person with a wallet
    assert (await billing_http.get(f"{API}/account")).status_code == 401


async def test_many_people_paying_at_once_all_get_credited(billing_http, billing_settings, person):
    """Every credit also moves the provider clearing account: postings queue on it, they must
    never deadlock (the foreign keys' KEY SHARE locks against the balance update)."""
    people = [person() for _ in range(12)]
    payments = []
    for who in people:
        r = await billing_http.post(f"{API}/topups", json={"amount": 500}, headers=who.headers)
        payments.append(r.json())
    bodies = [event_body(billing_settings, p) for p in payments for _ in range(3)]
    answers = await asyncio.gather(
        *(
            billing_http.post(
                f"{API}/webhooks/sandbox", content=b, headers=signed(billing_settings, b)
            )
            for b in bodies
        )
    )
    assert {a.status_code for a in answers} == {200}
    assert sum(a.json()["outcome"] == "credited" for a in answers) == 12
    for who in people:
        assert await balance(billing_http, who) == 500
