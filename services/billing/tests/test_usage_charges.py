"""The holder sees what each instance cost per hour: the detail behind a usage entry that
sums a wallet's instances of one pass over an hour."""

import uuid
from datetime import timedelta

from fixtures_billing import API, a_past_hour
from test_metering import charge, deploy_event, make_plan, run_instance, stopped


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


async def test_the_charges_of_many_hours_come_newest_first_page_by_page(
    billing_http, billing_db, billing_settings, person
):
    """Read one hour at a time (the key is hour first): every hour of the wallet's instances'
    lifetime is there, in order, paged; `from`/`to` in the middle of an hour keep the hours
    that begin inside the range; a time without a zone is UTC."""
    first = a_past_hour()
    plan = await make_plan(billing_db, [(first - timedelta(hours=1), 60)])
    carol = person()
    end = first + timedelta(hours=3)
    instances = sorted(
        [
            await run_instance(billing_db, billing_settings, carol.id, plan, first, end)
            for _ in range(2)
        ],
        reverse=True,
    )
    for n in range(3):
        await charge(billing_db, first + timedelta(hours=n))

    async def page(number: int, **window) -> dict:
        params = {"size": 2, "page": number, **window}
        r = await billing_http.get(
            f"{API}/account/usage/charges", params=params, headers=carol.headers
        )
        assert r.status_code == 200, r.text
        return r.json()

    seen = []
    for number in (1, 2, 3):
        body = await page(number)
        assert body["total"] == 6
        seen += [(c["hour"], uuid.UUID(c["instance_id"])) for c in body["items"]]
    hours = [(first + timedelta(hours=n)).isoformat().replace("+00:00", "Z") for n in (2, 1, 0)]
    expected = [(hour, instance) for hour in hours for instance in instances]
    assert [(h.replace("+00:00", "Z"), i) for h, i in seen] == expected

    # from half past the first hour to half past the last: the second and third hours
    window = {
        "from": (first + timedelta(minutes=30)).replace(tzinfo=None).isoformat(),
        "to": (first + timedelta(hours=2, minutes=30)).isoformat(),
    }
    body = await page(1, **window)
    assert body["total"] == 4
    assert {c["hour"].replace("+00:00", "Z") for c in body["items"]} == {hours[0]}


async def test_a_running_instance_s_charges_are_listed(
    billing_http, billing_db, billing_settings, person
):
    hour = a_past_hour()
    plan = await make_plan(billing_db, [(hour - timedelta(hours=1), 60)])
    dana = person()
    instance = await run_instance(billing_db, billing_settings, dana.id, plan, hour)
    try:
        await charge(billing_db, hour)
        r = await billing_http.get(f"{API}/account/usage/charges", headers=dana.headers)
        assert r.status_code == 200, r.text
        assert [(uuid.UUID(c["instance_id"]), c["minutes"]) for c in r.json()["items"]] == [
            (instance, 60)
        ]
    finally:  # stopped, so that other tests' later hours never meet it
        await deploy_event(
            billing_db,
            billing_settings,
            "deploy.instance.stopped",
            **stopped(instance, dana.id, plan, hour + timedelta(hours=1)),
        )
