"""The holder sees what each instance cost per hour: the detail behind a usage entry that
sums a wallet's instances of one pass over an hour."""

import uuid
from datetime import timedelta

from fixtures_billing import API, a_past_hour
from test_metering import charge, make_plan, run_instance


async def test_the_holder_reads_the_per_instance_charges_behind_a_usage_entry(
    billing_http, billing_db, billing_settings, person
):
    hour = a_past_hour()
    plan = await make_plan(billing_db, [(hour - timedelta(hours=1), 120)])
    alice, bob = person(), person()
    end = hour + timedelta(hours=1)  # stopped: later hours of other tests never meet them
    running = {}  # instance -> minutes in the hour
    for minutes in (60, 20):
        begin = end - timedelta(minutes=minutes)
        instance = await run_instance(billing_db, billing_settings, alice.id, plan, begin, end)
        running[instance] = minutes
    await run_instance(billing_db, billing_settings, bob.id, plan, hour, end)
    await charge(billing_db, hour)

    window = {"from": hour.isoformat(), "to": (hour + timedelta(hours=1)).isoformat()}
    r = await billing_http.get(f"{API}/account/usage/charges", params=window, headers=alice.headers)
    assert r.status_code == 200, r.text
    charges = r.json()["items"]
    assert r.json()["total"] == 2
    assert {(uuid.UUID(c["instance_id"]), c["minutes"], c["amount"]) for c in charges} == {
        (instance, minutes, minutes * 2) for instance, minutes in running.items()
    }
    [entry] = (
        await billing_http.get(
            f"{API}/account/ledger", params={"kind": "usage"}, headers=alice.headers
        )
    ).json()["items"]
    assert entry["amount"] == -sum(c["amount"] for c in charges) == -160
    assert {c["transaction_id"] for c in charges} == {entry["transaction_id"]}
    assert entry["memo"] == "2 instances · 80 min"

    # bob sees only his own; a backwards range is refused
    r = await billing_http.get(f"{API}/account/usage/charges", headers=bob.headers)
    assert [c["amount"] for c in r.json()["items"]] == [120]
    r = await billing_http.get(
        f"{API}/account/usage/charges",
        params={"from": window["to"], "to": window["from"]},
        headers=alice.headers,
    )
    assert r.status_code == 422 and r.json()["error"]["message"] == "`from` must be before `to`"
