"""The holder sees what each instance cost per hour: the detail behind a usage entry that
sums a wallet's instances of one pass over an hour."""

import uuid
from datetime import timedelta

from fixtures_billing import API, a_past_hour
from test_metering import charge, deploy_event, make_plan, started, stopped


async def test_the_holder_reads_the_per_instance_charges_behind_a_usage_entry(
    billing_http, billing_db, billing_settings, person
):
    hour = a_past_hour()
    plan = await make_plan(billing_db, [(hour - timedelta(hours=1), 120)])
    alice, bob = person(), person()
    running = {uuid.uuid4(): 60, uuid.uuid4(): 20}  # instance -> minutes in the hour
    for instance, minutes in running.items():
        begin = hour + timedelta(minutes=60 - minutes)
        await deploy_event(
            billing_db,
            billing_settings,
            "deploy.instance.started",
            **started(instance, alice.id, plan, begin),
        )
    await deploy_event(
        billing_db,
        billing_settings,
        "deploy.instance.started",
        **started(uuid.uuid4(), bob.id, plan, hour),
    )
    await charge(billing_db, hour)
    await deploy_event(  # a stop after the hour changes nothing of it
        billing_db,
        billing_settings,
        "deploy.instance.stopped",
        **stopped(next(iter(running)), alice.id, plan, hour + timedelta(hours=2)),
    )

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
