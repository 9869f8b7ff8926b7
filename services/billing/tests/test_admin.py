"""Admins: adjustments with a reason, refunds (never more than paid, even concurrently),
account search and browsing; people are kept out."""

import asyncio
import uuid

from fixtures_billing import API, balance, sql, top_up, wallet


def key() -> dict[str, str]:
    return {"Idempotency-Key": f"k-{uuid.uuid4().hex}"}


async def test_adjustments_need_a_key_replay_by_it_and_record_who_and_why(
    billing_http, billing_db, billing_settings, admin_headers, person
):
    alice = person()
    await top_up(billing_http, billing_settings, alice, 1000)
    account = await wallet(billing_db, alice.id)
    url = f"{API}/admin/accounts/{account.id}/adjustments"
    body = {"direction": "credit", "amount": 250, "reason": "support goodwill"}
    r = await billing_http.post(url, json=body, headers=admin_headers)
    assert r.status_code == 400 and r.json()["error"]["code"] == "idempotency_key_required"
    k = key()
    first = await billing_http.post(url, json=body, headers={**admin_headers, **k})
    again = await billing_http.post(url, json=body, headers={**admin_headers, **k})
    assert first.status_code == again.status_code == 201
    assert first.json() == again.json() and first.json()["balance"] == 1250
    other = await billing_http.post(
        url, json={**body, "amount": 999}, headers={**admin_headers, **k}
    )
    assert other.status_code == 422
    assert await balance(billing_http, alice) == 1250
    for bad in (
        {**body, "amount": 0},
        {**body, "amount": -5},
        {**body, "amount": 2.5},
        {**body, "amount": 10**8},
        {**body, "currency": "GBP"},
        {**body, "reason": ""},
        {**body, "direction": "sideways"},
    ):
        r = await billing_http.post(url, json=bad, headers={**admin_headers, **key()})
        assert r.status_code == 422, bad
    r = await billing_http.post(
        f"{API}/admin/accounts/{uuid.uuid4()}/adjustments",
        json=body,
        headers={**admin_headers, **key()},
    )
    assert r.status_code == 404
    r = await billing_http.post(url, json=body, headers={**alice.headers, **key()})
    assert r.status_code == 403
    ledger = (
        await billing_http.get(
            f"{API}/admin/accounts/{account.id}/ledger?kind=adjustment", headers=admin_headers
        )
    ).json()
    [entry] = ledger["items"]
    assert entry["amount"] == 250 and "support goodwill" in entry["description"]
    assert entry["caused_by"].startswith("admin:")


async def test_refunds_full_or_partial_never_more_than_paid_even_concurrently(
    billing_http, billing_db, billing_settings, admin_headers, person
):
    alice = person()
    payment = await top_up(billing_http, billing_settings, alice, 1000)
    url = f"{API}/admin/payments/{payment['id']}/refunds"
    r = await billing_http.post(
        url, json={"amount": 300, "reason": "partial"}, headers={**admin_headers, **key()}
    )
    assert r.status_code == 201 and r.json()["amount"] == 300
    # five concurrent refunds of 300 against the 700 left: only two fit
    answers = await asyncio.gather(
        *(
            billing_http.post(
                url, json={"amount": 300, "reason": "race"}, headers={**admin_headers, **key()}
            )
            for _ in range(5)
        )
    )
    assert sorted(a.status_code for a in answers) == [201, 201, 422, 422, 422]
    r = await billing_http.post(
        url, json={"reason": "the rest"}, headers={**admin_headers, **key()}
    )
    assert r.status_code == 201 and r.json()["amount"] == 100
    r = await billing_http.post(
        url, json={"reason": "nothing left"}, headers={**admin_headers, **key()}
    )
    assert r.status_code == 422
    got = (await billing_http.get(f"{API}/payments/{payment['id']}", headers=alice.headers)).json()
    assert got["refunded_amount"] == 1000
    assert await balance(billing_http, alice) == 0
    [(refunded,)] = await sql(
        billing_db, "SELECT sum(amount) FROM billing.refunds WHERE payment_id = :p", p=payment["id"]
    )
    assert refunded == 1000


async def test_a_pending_payment_cannot_be_refunded(billing_http, admin_headers, person):
    alice = person()
    payment = (
        await billing_http.post(f"{API}/topups", json={"amount": 500}, headers=alice.headers)
    ).json()
    r = await billing_http.post(
        f"{API}/admin/payments/{payment['id']}/refunds",
        json={"reason": "nope"},
        headers={**admin_headers, **key()},
    )
    assert r.status_code == 409


async def test_admins_search_accounts_and_browse_payments(
    billing_http, billing_db, billing_settings, admin_headers, person
):
    alice = person()
    await top_up(billing_http, billing_settings, alice, 700)
    account = await wallet(billing_db, alice.id)
    r = await billing_http.get(
        f"{API}/admin/accounts?q={str(alice.id)[:13]}", headers=admin_headers
    )
    assert [a["id"] for a in r.json()["items"]] == [str(account.id)]
    r = await billing_http.get(f"{API}/admin/accounts/{account.id}", headers=admin_headers)
    assert r.json()["balance"] == 700
    r = await billing_http.get(
        f"{API}/admin/payments?account_id={account.id}&status=succeeded", headers=admin_headers
    )
    assert [p["amount"] for p in r.json()["items"]] == [700]
    assert (
        await billing_http.get(f"{API}/admin/payments?status=weird", headers=admin_headers)
    ).status_code == 422
    assert (
        await billing_http.get(f"{API}/admin/accounts?q=%25", headers=admin_headers)
    ).status_code == 422
    assert (
        await billing_http.get(f"{API}/admin/payments", headers=alice.headers)
    ).status_code == 403


async def test_the_account_search_filters_by_negative_and_suspended(
    billing_http, billing_db, billing_settings, admin_headers, person
):
    alice, bob = person(), person()
    await top_up(billing_http, billing_settings, alice, 700)
    await top_up(billing_http, billing_settings, bob, 100)
    bobs = await wallet(billing_db, bob.id)
    debit = {"direction": "debit", "amount": 300, "reason": "chargeback"}
    r = await billing_http.post(
        f"{API}/admin/accounts/{bobs.id}/adjustments",
        json=debit,
        headers={**admin_headers, **key()},
    )
    assert r.status_code == 201 and r.json()["balance"] == -200

    async def found(who, status: str) -> list[str]:
        url = f"{API}/admin/accounts?q={str(who.id)[:13]}&status={status}"
        return [
            a["id"] for a in (await billing_http.get(url, headers=admin_headers)).json()["items"]
        ]

    assert await found(bob, "negative") == [str(bobs.id)]
    assert await found(alice, "negative") == []
    assert await found(bob, "suspended") == []


async def test_services_read_an_owners_account_with_billing_read(
    billing_http, billing_settings, signing_jwks, person
):
    import os

    from berth_testing.oauth import bearer, mint_access_token

    alice = person()
    await top_up(billing_http, billing_settings, alice, 400)

    def client(scope: str) -> dict:
        return bearer(
            mint_access_token(
                signing_jwks,
                issuer=os.environ["BERTH_PUBLIC_URL"],
                subject="svc-deploy",
                client_id="svc-deploy",
                scope=scope,
            )
        )

    url = f"{API}/accounts/by-owner/{alice.id}"
    r = await billing_http.get(url, headers=client("billing:read"))
    assert r.status_code == 200 and r.json()["balance"] == 400
    assert (await billing_http.get(url, headers=client("auth:read"))).status_code == 403
    assert (await billing_http.get(url, headers=alice.headers)).status_code == 403


async def test_odd_queries_get_answers_not_errors(billing_http, admin_headers, person):
    alice = person()
    for url, expected in (
        (f"{API}/account/ledger?from=2024-01-01T00:00:00", 200),  # no zone: taken as UTC
        (f"{API}/account/ledger?from=2024-01-01T00:00:00Z&to=2023-01-01T00:00:00Z", 422),
        (f"{API}/account/ledger?kind=bogus", 422),
        (f"{API}/account/ledger?from=yesterday", 422),
        (f"{API}/account/ledger?size=1000", 422),
        (f"{API}/account/usage?days=0", 422),
        (f"{API}/account/usage?days=400", 422),
        (f"{API}/payments/not-a-uuid", 422),
        (f"{API}/invoices/{uuid.uuid4()}", 404),
        (f"{API}/sandbox/checkout/garbage", 404),
    ):
        r = await billing_http.get(url, headers=alice.headers)
        assert r.status_code == expected, (url, r.text)
    for url, expected in (
        (f"{API}/admin/metering/runs?hour=2024-01-01T10:00:00", 200),
        (f"{API}/admin/invoices?period=2024-1", 422),
        (f"{API}/admin/accounts?status=weird", 422),
        (f"{API}/admin/accounts/{uuid.uuid4()}", 404),
        (f"{API}/admin/plans/NOT_A_KEY/prices", 422),
    ):
        r = await billing_http.get(url, headers=admin_headers)
        assert r.status_code == expected, (url, r.text)
    r = await billing_http.post(
        f"{API}/topups",
        content=b"{not json",
        headers={**alice.headers, "Content-Type": "application/json"},
    )
    assert r.status_code == 422
    r = await billing_http.post(f"{API}/webhooks/sandbox", content=b"\x00" * 10)
    assert r.status_code == 400


async def test_week_old_idempotency_keys_are_purged(billing_db):
    from berth_billing import idempotency

    fresh, old = uuid.uuid4().hex, uuid.uuid4().hex
    for k, age in ((fresh, "1 day"), (old, "8 days")):
        await sql(
            billing_db,
            "INSERT INTO billing.idempotency_keys (principal, key, fingerprint, created_at) "
            f"VALUES ('test', :k, 'x', now() - interval '{age}')",
            k=k,
        )
    async with billing_db() as session, session.begin():
        assert await idempotency.purge_expired(session) >= 1
    left = await sql(
        billing_db, "SELECT key FROM billing.idempotency_keys WHERE key IN (:a, :b)", a=fresh, b=old
    )
    assert [k for (k,) in left] == [fresh]


async def test_a_plan_says_how_many_apps_one_person_may_have(billing_http, admin_headers):
    base = f"{API}/admin/plans"
    key = f"p-{uuid.uuid4().hex[:10]}"
    r = await billing_http.post(
        base, json={"key": key, "name": "Tiny", "amount_per_hour": 1}, headers=admin_headers
    )
    assert r.status_code == 201 and r.json()["max_apps_per_owner"] == 10  # the default
    r = await billing_http.patch(
        f"{base}/{key}", json={"max_apps_per_owner": 2}, headers=admin_headers
    )
    assert r.status_code == 200 and r.json()["max_apps_per_owner"] == 2
    public = (await billing_http.get(f"{API}/plans")).json()  # the price list shows it
    assert [p["max_apps_per_owner"] for p in public if p["key"] == key] == [2]
    assert {p["key"]: p["max_apps_per_owner"] for p in public}["web-small"] == 10
    for bad in (-1, 1.5, "3", 10_001):
        r = await billing_http.patch(
            f"{base}/{key}", json={"max_apps_per_owner": bad}, headers=admin_headers
        )
        assert r.status_code == 422, (bad, r.text)
