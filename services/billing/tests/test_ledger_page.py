"""The ledger page is one thing: the holder's and the admins' routes filter and refuse alike."""

from fixtures_billing import API, top_up, wallet

BACKWARDS = {"from": "2024-01-01T00:00:00Z", "to": "2023-01-01T00:00:00Z"}
EMPTY = {"from": "2024-01-01T00:00:00Z", "to": "2024-01-01T00:00:00Z"}
FORWARD = {"from": "2000-01-01T00:00:00Z", "to": "2999-01-01T00:00:00Z"}


def _refused(r) -> None:
    assert r.status_code == 422, r.text
    error = r.json()["error"]
    assert error["code"] == "validation_error"
    assert error["message"] == "`from` must be before `to`"


async def test_the_admin_ledger_refuses_from_at_or_after_to(
    billing_http, billing_db, billing_settings, admin_headers, person
):
    alice = person()
    await top_up(billing_http, billing_settings, alice, 700)
    url = f"{API}/admin/accounts/{(await wallet(billing_db, alice.id)).id}/ledger"
    for bad in (BACKWARDS, EMPTY):
        _refused(await billing_http.get(url, params=bad, headers=admin_headers))
    r = await billing_http.get(url, params=FORWARD, headers=admin_headers)
    assert r.status_code == 200 and [e["amount"] for e in r.json()["items"]] == [700]


async def test_holder_and_admin_see_the_same_page(
    billing_http, billing_db, billing_settings, admin_headers, person
):
    alice = person()
    for amount in (300, 400, 500):
        await top_up(billing_http, billing_settings, alice, amount)
    account_id = (await wallet(billing_db, alice.id)).id
    query = {**FORWARD, "kind": "topup", "size": 2}
    mine = await billing_http.get(f"{API}/account/ledger", params=query, headers=alice.headers)
    theirs = await billing_http.get(
        f"{API}/admin/accounts/{account_id}/ledger", params=query, headers=admin_headers
    )
    assert mine.status_code == theirs.status_code == 200
    assert mine.json() == theirs.json()
    assert mine.json()["total"] == 3
    assert [e["amount"] for e in mine.json()["items"]] == [500, 400]  # newest first
    _refused(await billing_http.get(f"{API}/account/ledger", params=EMPTY, headers=alice.headers))
    r = await billing_http.get(
        f"{API}/account/ledger", params={"kind": "usage"}, headers=alice.headers
    )
    assert r.status_code == 200 and r.json()["total"] == 0
