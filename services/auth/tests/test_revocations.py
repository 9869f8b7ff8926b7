"""Revoking issued access tokens: what auth records, publishes (auth.access.revoked) and serves
(/internal/revocations), and its own checks refusing revoked tokens within seconds."""

import asyncio
import base64
import json
import time

import pytest
from fixtures_accounts import bearer, make_user, token_for
from fixtures_oauth import PASSWORD, login, make_machine, make_person
from sqlalchemy import text

from berth_common.revocation import REVOKED_EVENT, event_payload

WITHIN = 5.0  # seconds: what the platform promises


async def revocation_list(http) -> dict:
    response = await http.get("/internal/revocations")
    assert response.status_code == 200, response.text
    return response.json()


async def events_naming(sm, needle: str) -> list[dict]:
    async with sm() as session:
        rows = await session.execute(
            text("SELECT body FROM auth.outbox WHERE routing_key = :key"), {"key": REVOKED_EVENT}
        )
        payloads = [event_payload(body.encode()) for (body,) in rows]
    return [p for p in payloads if needle in str(p)]


async def refused_within(http, headers: dict, path: str = "/api/auth/v1/me") -> float:
    """Seconds until auth's own check refuses the token with 401 (fails after WITHIN)."""
    started = time.monotonic()
    while True:
        response = await http.get(path, headers=headers)
        if response.status_code == 401:
            assert response.json()["error"]["message"] == "Access token has been revoked"
            return time.monotonic() - started
        assert response.status_code == 200, response.text
        assert time.monotonic() - started < WITHIN, "still accepted after 5 s"
        await asyncio.sleep(0.1)


@pytest.fixture
async def admin_headers(oauth_db, oauth_settings):
    admin = await make_user(oauth_db, roles=("user", "admin"))
    return bearer(token_for(oauth_settings, admin))


async def signed_in(http, email: str, password: str = PASSWORD) -> dict:
    response = await login(http, email, password)
    assert response.status_code == 200, response.text
    tokens = response.json()
    claims = (await http.get("/api/auth/v1/me", headers=bearer(tokens["access_token"]))).json()
    return {**tokens, "headers": bearer(tokens["access_token"]), "id": claims["id"]}


async def test_logout_revokes_the_sessions_access_tokens(oauth_http, oauth_db, oauth_settings):
    person = await make_person(oauth_db)
    first, second = (
        await signed_in(oauth_http, person.email),
        await signed_in(oauth_http, person.email),
    )
    sid = (await oauth_http.get("/api/auth/v1/me/sessions", headers=first["headers"])).json()
    started = int(time.time())
    r = await oauth_http.post(
        "/oauth/revoke", data={"token": first["refresh_token"], "client_id": "berth-panel"}
    )
    assert r.status_code == 200
    await refused_within(oauth_http, first["headers"])
    # the other session of the same person is untouched
    assert (await oauth_http.get("/api/auth/v1/me", headers=second["headers"])).status_code == 200
    revoked = [s["id"] for s in sid["items"] if s["revoked_at"] is None]
    listed = {e["id"]: e["until"] for e in (await revocation_list(oauth_http))["sessions"]}
    family = next(f for f in revoked if f in listed)
    lifetime = oauth_settings.access_token_expire_minutes * 60
    assert started + lifetime <= listed[family] <= int(time.time()) + lifetime + 61
    assert await events_naming(oauth_db, family)


async def test_blocking_refuses_issued_tokens_and_unblocking_lets_new_ones_work(
    oauth_http, oauth_db, admin_headers
):
    person = await make_person(oauth_db)
    session = await signed_in(oauth_http, person.email)
    r = await oauth_http.post(
        f"/api/auth/v1/admin/users/{person.id}/block",
        json={"reason": "abuse"},
        headers=admin_headers,
    )
    assert r.status_code == 200, r.text
    await refused_within(oauth_http, session["headers"])
    users = {u["id"]: u for u in (await revocation_list(oauth_http))["users"]}
    assert users[str(person.id)]["not_before"] > time.time() - WITHIN
    r = await oauth_http.post(
        f"/api/auth/v1/admin/users/{person.id}/unblock", headers=admin_headers
    )
    assert r.status_code == 200
    # a token issued right after (the same second, even) is not caught by the old not-before
    fresh = await signed_in(oauth_http, person.email)
    assert (await oauth_http.get("/api/auth/v1/me", headers=fresh["headers"])).status_code == 200


async def test_a_role_change_refuses_tokens_with_the_old_roles(oauth_http, oauth_db, admin_headers):
    person = await make_person(oauth_db, roles=("user", "support"))
    old = await signed_in(oauth_http, person.email)
    r = await oauth_http.put(
        f"/api/auth/v1/admin/users/{person.id}/roles", json={"roles": []}, headers=admin_headers
    )
    assert r.status_code == 200 and r.json()["roles"] == ["user"]
    await refused_within(oauth_http, old["headers"], f"/api/auth/v1/users/{person.id}")
    new = await signed_in(oauth_http, person.email)
    me = await oauth_http.get("/api/auth/v1/me", headers=new["headers"])
    assert me.status_code == 200 and me.json()["roles"] == ["user"]
    assert await events_naming(oauth_db, str(person.id))


async def test_a_password_change_refuses_tokens_issued_before_it(oauth_http, oauth_db):
    person = await make_person(oauth_db)
    current, other = (
        await signed_in(oauth_http, person.email),
        await signed_in(oauth_http, person.email),
    )
    r = await oauth_http.post(
        "/api/auth/v1/me/password",
        json={"current_password": PASSWORD, "new_password": "a brand new password 9"},
        headers=current["headers"],
    )
    assert r.status_code in (200, 204), r.text
    await refused_within(oauth_http, other["headers"])
    await refused_within(oauth_http, current["headers"])
    # this browser's session is kept: its refresh token gets a token that works
    r = await oauth_http.post(
        "/oauth/token",
        data={
            "grant_type": "refresh_token",
            "refresh_token": current["refresh_token"],
            "client_id": "berth-panel",
        },
    )
    assert r.status_code == 200, r.text
    renewed = bearer(r.json()["access_token"])
    assert (await oauth_http.get("/api/auth/v1/me", headers=renewed)).status_code == 200


async def test_signing_one_session_out_refuses_only_its_tokens(oauth_http, oauth_db):
    person = await make_person(oauth_db)
    keep, drop = (
        await signed_in(oauth_http, person.email),
        await signed_in(oauth_http, person.email),
    )
    r = await oauth_http.delete(
        f"/api/auth/v1/me/sessions/{claims_of(drop['access_token'])['sid']}",
        headers=keep["headers"],
    )
    assert r.status_code == 204, r.text
    await refused_within(oauth_http, drop["headers"])
    assert (await oauth_http.get("/api/auth/v1/me", headers=keep["headers"])).status_code == 200


def claims_of(token: str) -> dict:
    payload = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


async def test_revoking_a_machine_client_refuses_its_tokens(oauth_http, oauth_db, admin_headers):
    person = await make_person(oauth_db)
    client_id, secret = await make_machine(oauth_db, ["auth:read"])
    r = await oauth_http.post(
        "/oauth/token", data={"grant_type": "client_credentials"}, auth=(client_id, secret)
    )
    headers = bearer(r.json()["access_token"])
    r = await oauth_http.post(
        f"/api/auth/v1/admin/clients/{client_id}/revoke", headers=admin_headers
    )
    assert r.status_code == 200, r.text
    await refused_within(oauth_http, headers, f"/api/auth/v1/users/{person.id}")
    listed = [c["id"] for c in (await revocation_list(oauth_http))["clients"]]
    assert client_id in listed
    assert await events_naming(oauth_db, client_id)


async def test_the_list_is_internal_only_in_shape(oauth_http):
    body = await revocation_list(oauth_http)
    assert set(body) == {"sessions", "clients", "users"}
    spec = (await oauth_http.get("/api/auth/openapi.json")).json()
    assert "/internal/revocations" not in spec["paths"]
