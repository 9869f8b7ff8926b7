"""Webhook deliveries arriving together share a transaction (payments/batcher.py), applied by
one fixed set of statements (payments/webhooks.py): outcomes per event as if alone, one
credit per payment, a failed batch retried event by event."""

import asyncio
import json

import pytest
from fixtures_billing import API, balance, event_body, signed

from berth_billing.payments import batcher as batcher_module
from berth_billing.payments import webhooks
from berth_billing.payments.batcher import WebhookBatcher
from berth_billing.payments.provider import SandboxProvider


async def pending_payment(http, who, amount: int) -> dict:
    r = await http.post(f"{API}/topups", json={"amount": amount}, headers=who.headers)
    assert r.status_code == 201, r.text
    return r.json()


def parsed(settings, body: bytes):
    return SandboxProvider(settings).parse_webhook(
        {k.lower(): v for k, v in signed(settings, body).items()}, body
    )


async def test_one_batch_answers_each_event_as_if_it_came_alone(
    billing_http, billing_db, billing_settings, person
):
    alice, bob, carol = person(), person(), person()
    paid = await pending_payment(billing_http, alice, 700)
    declined = await pending_payment(billing_http, bob, 300)
    twice = await pending_payment(billing_http, carol, 450)
    success = event_body(billing_settings, paid)
    decline = event_body(billing_settings, declined, type_="payment.failed")
    first, second = event_body(billing_settings, twice), event_body(billing_settings, twice)
    mismatch = json.loads(event_body(billing_settings, twice))
    mismatch["data"]["amount"] = 451
    unknown = json.loads(event_body(billing_settings, paid))
    unknown["data"]["payment_id"] = "sbx_pay_nobody"
    bodies = [
        success,
        success,  # the same event twice in one batch
        decline,
        first,
        second,  # another event for a payment credited earlier in the batch
        json.dumps(mismatch).encode(),
        json.dumps(unknown).encode(),
    ]
    async with billing_db() as session, session.begin():  # edge: the test's transaction
        outcomes = await webhooks.apply_events(
            session, billing_settings, "sandbox", [parsed(billing_settings, b) for b in bodies]
        )
    assert outcomes == [
        "credited",
        "duplicate",
        "failed",
        "credited",
        "already_succeeded",
        "amount_mismatch",
        "unknown_payment",
    ]
    assert [await balance(billing_http, p) for p in (alice, bob, carol)] == [700, 0, 450]
    # each delivered again later: a duplicate, nothing moves
    async with billing_db() as session, session.begin():  # edge: the test's transaction
        again = await webhooks.apply_events(
            session, billing_settings, "sandbox", [parsed(billing_settings, b) for b in bodies]
        )
    assert again == ["duplicate"] * len(bodies)
    r = await billing_http.get(f"{API}/payments/{declined['id']}", headers=bob.headers)
    assert r.json()["status"] == "failed"


async def test_concurrent_deliveries_share_transactions_and_all_credit_once(
    billing_http, billing_app, billing_settings, person, monkeypatch
):
    batches: list[int] = []
    real = batcher_module.apply_events

    async def counted(session, settings, provider, events):
        batches.append(len(events))
        return await real(session, settings, provider, events)

    monkeypatch.setattr(batcher_module, "apply_events", counted)
    people = [person() for _ in range(20)]
    payments = [await pending_payment(billing_http, who, 100 + n) for n, who in enumerate(people)]
    bodies = [b for p in payments for b in [event_body(billing_settings, p)] * 2]  # redelivered
    answers = await asyncio.gather(
        *(
            billing_http.post(
                f"{API}/webhooks/sandbox", content=b, headers=signed(billing_settings, b)
            )
            for b in bodies
        )
    )
    assert {a.status_code for a in answers} == {200}
    outcomes = sorted(a.json()["outcome"] for a in answers)
    assert outcomes == ["credited"] * 20 + ["duplicate"] * 20
    assert sum(batches) == 40 and len(batches) < 40  # some deliveries shared a transaction
    assert max(batches) > 1
    for n, who in enumerate(people):
        assert await balance(billing_http, who) == 100 + n


async def test_a_failing_batch_is_retried_event_by_event(
    billing_http, billing_app, billing_settings, person, monkeypatch
):
    people = [person() for _ in range(6)]
    payments = [await pending_payment(billing_http, who, 200) for who in people]
    poisoned = payments[3]["provider_payment_id"]
    batches: list[int] = []
    real = batcher_module.apply_events

    async def poison(session, settings, provider, events):
        batches.append(len(events))
        result = await real(session, settings, provider, events)  # written, then rolled back
        if any(e.provider_payment_id == poisoned for e in events):
            raise RuntimeError("this event breaks its transaction")
        return result

    monkeypatch.setattr(batcher_module, "apply_events", poison)
    batcher = WebhookBatcher(billing_app.state, billing_settings, "sandbox")
    events = [parsed(billing_settings, event_body(billing_settings, p)) for p in payments]
    # each lane takes one event at once; the rest, poisoned one included, wait as a batch
    answers = await asyncio.gather(*(batcher.submit(e) for e in events), return_exceptions=True)
    assert batches == [1, 1, 4, 1, 1, 1, 1]  # the batch of four failed, then one by one
    assert [a if isinstance(a, str) else "error" for a in answers] == [
        "credited",
        "credited",
        "credited",
        "error",
        "credited",
        "credited",
    ]
    assert isinstance(answers[3], RuntimeError)
    balances = [await balance(billing_http, who) for who in people]
    assert balances == [200, 200, 200, 0, 200, 200]


@pytest.mark.parametrize("lanes", [1, 3])
async def test_no_delivery_waits_for_a_lane_forever(
    billing_http, billing_app, billing_settings, person, lanes
):
    settings = billing_settings.model_copy(
        update={"webhook_batch_lanes": lanes, "webhook_batch_max": 2}
    )
    batcher = WebhookBatcher(billing_app.state, settings, "sandbox")
    people = [person() for _ in range(7)]
    payments = [await pending_payment(billing_http, who, 150) for who in people]
    events = [parsed(billing_settings, event_body(billing_settings, p)) for p in payments]
    answers = await asyncio.wait_for(asyncio.gather(*(batcher.submit(e) for e in events)), 60)
    assert answers == ["credited"] * 7
