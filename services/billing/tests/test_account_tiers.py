"""An account's service tier: admins set it (one of BILLING_ACCOUNT_TIERS), each change is
recorded and announced once; its holder sees it; machine clients read it with billing:read."""

import asyncio
import os
import uuid

from fixtures_billing import API, outbox_events, sql, top_up, wallet

from berth_testing.oauth import bearer, mint_access_token

EVENT = "billing.account.tier_changed"


async def _account(billing_http, billing_db, billing_settings, who):
    await top_up(billing_http, billing_settings, who, 500)
    return await wallet(billing_db, who.id)


async def test_an_admin_moves_an_account_between_tiers_each_change_recorded_and_announced_once(
    billing_http, billing_db, billing_settings, admin_headers, person
):
    alice = person()
    account = await _account(billing_http, billing_db, billing_settings, alice)
    mine = (await billing_http.get(f"{API}/account", headers=alice.headers)).json()
    assert mine["tier"] == "standard"
    url = f"{API}/admin/accounts/{account.id}/tier"

    r = await billing_http.put(
        url, json={"tier": "pro", "reason": "annual deal"}, headers=admin_headers
    )
    assert r.status_code == 200, r.text
    assert r.json()["tier"] == "pro" and r.json()["changed"] is True
    # the same tier again: nothing recorded, nothing announced
    again = await billing_http.put(url, json={"tier": "pro"}, headers=admin_headers)
    assert again.status_code == 200 and again.json()["changed"] is False
    r = await billing_http.put(url, json={"tier": "business"}, headers=admin_headers)
    assert r.status_code == 200 and r.json()["changed"] is True

    events = await outbox_events(billing_db, EVENT, alice.id)
    assert [(e["previous_tier"], e["tier"]) for e in events] == [
        ("standard", "pro"),
        ("pro", "business"),
    ]
    assert events[0]["changed_at"] < events[1]["changed_at"]
    assert all(e["changed_by"].startswith("admin:") for e in events)

    history = (
        await billing_http.get(
            f"{API}/admin/accounts/{account.id}/tier-changes", headers=admin_headers
        )
    ).json()
    assert [(c["from_tier"], c["to_tier"]) for c in history["items"]] == [
        ("pro", "business"),
        ("standard", "pro"),
    ]
    assert history["items"][1]["reason"] == "annual deal"
    mine = (await billing_http.get(f"{API}/account", headers=alice.headers)).json()
    assert mine["tier"] == "business"


async def test_concurrent_changes_of_one_account_are_recorded_one_after_the_other(
    billing_http, billing_db, billing_settings, admin_headers, person
):
    bob = person()
    account = await _account(billing_http, billing_db, billing_settings, bob)
    url = f"{API}/admin/accounts/{account.id}/tier"
    answers = await asyncio.gather(
        *(
            billing_http.put(url, json={"tier": tier}, headers=admin_headers)
            for tier in ("pro", "business", "pro", "standard")
        )
    )
    assert all(a.status_code == 200 for a in answers)
    rows = await sql(
        billing_db,
        "SELECT from_tier, to_tier FROM billing.account_tier_changes "
        "WHERE account_id = :a ORDER BY changed_at",
        a=account.id,
    )
    # a chain: each change starts from where the one before it left the account
    tier = "standard"
    for from_tier, to_tier in rows:
        assert from_tier == tier
        tier = to_tier
    [(final,)] = await sql(
        billing_db, "SELECT tier FROM billing.accounts WHERE id = :a", a=account.id
    )
    assert final == tier
    assert len(await outbox_events(billing_db, EVENT, bob.id)) == len(rows)


async def test_unknown_tiers_and_bad_bodies_get_422_and_strangers_403(
    billing_http, billing_db, billing_settings, admin_headers, person
):
    carol = person()
    account = await _account(billing_http, billing_db, billing_settings, carol)
    url = f"{API}/admin/accounts/{account.id}/tier"
    r = await billing_http.put(url, json={"tier": "platinum"}, headers=admin_headers)
    assert r.status_code == 422 and r.json()["error"]["code"] == "unknown_tier"
    assert r.json()["error"]["details"]["tiers"] == billing_settings.account_tiers
    for bad in ({}, {"tier": ""}, {"tier": "x" * 33}, {"tier": 7}, {"tier": "pro", "extra": 1}):
        r = await billing_http.put(url, json=bad, headers=admin_headers)
        assert r.status_code == 422, bad
        assert "error" in r.json()
    r = await billing_http.put(
        f"{API}/admin/accounts/{uuid.uuid4()}/tier", json={"tier": "pro"}, headers=admin_headers
    )
    assert r.status_code == 404
    # the holder may not upgrade themselves, nor can support
    for who in (carol, person(["user", "support"])):
        r = await billing_http.put(url, json={"tier": "pro"}, headers=who.headers)
        assert r.status_code == 403
    [(tier,)] = await sql(
        billing_db, "SELECT tier FROM billing.accounts WHERE id = :a", a=account.id
    )
    assert tier == "standard"
    assert await outbox_events(billing_db, EVENT, carol.id) == []
    offered = (await billing_http.get(f"{API}/admin/account-tiers", headers=admin_headers)).json()
    assert offered == {"tiers": billing_settings.account_tiers, "default": "standard"}


async def test_machine_clients_read_an_owners_tier_with_billing_read_only(
    billing_http, billing_db, billing_settings, admin_headers, person, signing_jwks
):
    dave = person()
    account = await _account(billing_http, billing_db, billing_settings, dave)
    r = await billing_http.put(
        f"{API}/admin/accounts/{account.id}/tier", json={"tier": "pro"}, headers=admin_headers
    )
    assert r.status_code == 200

    def client(scope: str) -> dict:
        return bearer(
            mint_access_token(
                signing_jwks,
                issuer=os.environ["BERTH_PUBLIC_URL"],
                subject="svc-chat",
                client_id="svc-chat",
                scope=scope,
            )
        )

    url = f"{API}/accounts/by-owner/{dave.id}/tier"
    r = await billing_http.get(url, headers=client("billing:read"))
    assert r.status_code == 200, r.text
    assert r.json()["tier"] == "pro" and r.json()["owner_id"] == str(dave.id)
    assert r.json()["changed_at"] >= account.created_at.isoformat()[:19]
    assert (await billing_http.get(url, headers=client("deploy:read"))).status_code == 403
    assert (await billing_http.get(url, headers=dave.headers)).status_code == 403
    assert (await billing_http.get(url)).status_code == 401
    r = await billing_http.get(
        f"{API}/accounts/by-owner/{uuid.uuid4()}/tier", headers=client("billing:read")
    )
    assert r.status_code == 404
