"""Revocation (RFC 7009) and introspection (RFC 7662)."""

import time

import pytest
from fixtures_oauth import PANEL, family_of, login, make_machine, make_person, refresh
from joserfc import jwt
from joserfc.jwk import ECKey
from sqlalchemy import update

from berth_auth.clients.service import revoke_machine_client
from berth_auth.models import User


@pytest.fixture
async def introspector(oauth_db) -> tuple[str, str]:
    return await make_machine(oauth_db, ["auth:introspect"], name="resource server")


async def _introspect(http, creds, token, **extra):
    r = await http.post("/oauth/introspect", data={"token": token, **extra}, auth=creds)
    assert r.headers.get("cache-control") == "no-store" or r.status_code >= 400
    return r


async def test_logout_revokes_the_session(oauth_http, oauth_db):
    person = await make_person(oauth_db)
    body = (await login(oauth_http, person.email)).json()
    r = await oauth_http.post(
        "/oauth/revoke",
        data={
            "token": body["refresh_token"],
            "token_type_hint": "refresh_token",
            "client_id": PANEL,
        },
    )
    assert r.status_code == 200 and r.headers["cache-control"] == "no-store"
    assert (await refresh(oauth_http, body["refresh_token"])).status_code == 400


async def test_revoke_answers_200_for_unknown_and_access_tokens(oauth_http, oauth_db):
    person = await make_person(oauth_db)
    body = (await login(oauth_http, person.email)).json()
    for token in ("never-issued", body["access_token"]):
        r = await oauth_http.post("/oauth/revoke", data={"token": token, "client_id": PANEL})
        assert r.status_code == 200
    # revoking the access token did not end the session
    assert (await refresh(oauth_http, body["refresh_token"])).status_code == 200


async def test_revoke_needs_client_authentication_and_the_owning_client(oauth_http, oauth_db):
    person = await make_person(oauth_db)
    body = (await login(oauth_http, person.email)).json()
    r = await oauth_http.post("/oauth/revoke", data={"token": body["refresh_token"]})
    assert r.status_code == 401 and r.json()["error"] == "invalid_client"
    # a machine client cannot end a person's session
    creds = await make_machine(oauth_db, ["deploy:read"])
    r = await oauth_http.post("/oauth/revoke", data={"token": body["refresh_token"]}, auth=creds)
    assert r.status_code == 200
    assert (await refresh(oauth_http, body["refresh_token"])).status_code == 200
    r = await oauth_http.post("/oauth/revoke", data={"client_id": PANEL})
    assert r.status_code == 400 and r.json()["error"] == "invalid_request"


async def test_introspect_an_active_access_token(
    oauth_http, oauth_db, oauth_settings, introspector
):
    person = await make_person(oauth_db, roles=("user", "admin"))
    body = (await login(oauth_http, person.email)).json()
    r = await _introspect(oauth_http, introspector, body["access_token"])
    assert r.status_code == 200, r.text
    info = r.json()
    assert info["active"] is True and info["token_type"] == "Bearer"
    assert info["sub"] == str(person.id) and info["client_id"] == PANEL
    assert info["iss"] == oauth_settings.issuer and info["aud"] == "berth"
    assert info["roles"] == ["admin", "user"] and info["scope"] == ""
    assert info["exp"] > time.time() > info["iat"] - 5 and info["jti"]

    # the session is revoked: the still-unexpired JWT is no longer active
    await oauth_http.post(
        "/oauth/revoke", data={"token": body["refresh_token"], "client_id": PANEL}
    )
    assert (await family_of(oauth_db, info["sid"])).revoked_at is not None
    r = await _introspect(oauth_http, introspector, body["access_token"])
    assert r.json() == {"active": False}


async def test_introspect_sees_blocked_users_as_inactive(oauth_http, oauth_db, introspector):
    person = await make_person(oauth_db)
    body = (await login(oauth_http, person.email)).json()
    async with oauth_db() as session, session.begin():
        await session.execute(update(User).where(User.id == person.id).values(is_blocked=True))
    for token in (body["access_token"], body["refresh_token"]):
        assert (await _introspect(oauth_http, introspector, token)).json() == {"active": False}


async def test_introspect_refresh_tokens(oauth_http, oauth_db, introspector):
    person = await make_person(oauth_db)
    body = (await login(oauth_http, person.email)).json()
    r = await _introspect(
        oauth_http, introspector, body["refresh_token"], token_type_hint="refresh_token"
    )
    info = r.json()
    assert info["active"] is True and info["sub"] == str(person.id)
    assert info["client_id"] == PANEL and info["exp"] > time.time()
    # once rotated, the old token is no longer active
    assert (await refresh(oauth_http, body["refresh_token"])).status_code == 200
    r = await _introspect(oauth_http, introspector, body["refresh_token"])
    assert r.json() == {"active": False}


async def test_introspect_machine_tokens_and_revoked_clients(
    oauth_http, oauth_db, oauth_settings, introspector
):
    creds = await make_machine(oauth_db, ["deploy:read"])
    token = (
        await oauth_http.post("/oauth/token", data={"grant_type": "client_credentials"}, auth=creds)
    ).json()["access_token"]
    info = (await _introspect(oauth_http, introspector, token)).json()
    assert info["active"] is True and info["sub"] == creds[0] == info["client_id"]
    assert info["scope"] == "deploy:read" and info["roles"] == []
    async with oauth_db() as session, session.begin():
        await revoke_machine_client(session, oauth_settings, creds[0], actor_id="test")
    assert (await _introspect(oauth_http, introspector, token)).json() == {"active": False}


async def test_invalid_tokens_are_inactive(oauth_http, introspector, oauth_settings):
    now = int(time.time())
    forged = jwt.encode(
        {"alg": "ES256", "typ": "at+jwt", "kid": "x"},
        {
            "iss": oauth_settings.issuer,
            "aud": "berth",
            "sub": "s",
            "client_id": "c",
            "exp": now + 60,
            "iat": now,
            "jti": "j",
        },
        ECKey.generate_key("P-256"),
    )
    for token in ("garbage", "a.b.c", forged, "x" * 4000):
        r = await _introspect(oauth_http, introspector, token)
        assert r.status_code == 200 and r.json() == {"active": False}, token[:20]


async def test_introspection_needs_a_machine_client_with_the_scope(oauth_http, oauth_db):
    person = await make_person(oauth_db)
    body = (await login(oauth_http, person.email)).json()
    r = await oauth_http.post(
        "/oauth/introspect", data={"token": body["access_token"], "client_id": PANEL}
    )
    assert r.status_code == 403 and r.json()["error"] == "insufficient_scope"
    creds = await make_machine(oauth_db, ["deploy:read"])
    r = await _introspect(oauth_http, creds, body["access_token"])
    assert r.status_code == 403 and r.json()["error"] == "insufficient_scope"
    r = await _introspect(oauth_http, (creds[0], "wrong"), body["access_token"])
    assert r.status_code == 401 and r.json()["error"] == "invalid_client"
    r = await oauth_http.post("/oauth/introspect", data={"token": body["access_token"]})
    assert r.status_code == 401
