"""Machine clients: admin management and the client_credentials grant."""

import base64

import pytest
from fixtures_oauth import client_row, login, make_machine, make_person, verify_with_published_keys
from sqlalchemy import select

from berth_auth.models import AuditNote
from berth_auth.passwords import verify_password

CLIENTS = "/api/auth/v1/admin/clients"


@pytest.fixture
async def admin_headers(oauth_http, oauth_db) -> dict[str, str]:
    admin = await make_person(oauth_db, roles=("user", "admin"))
    token = (await login(oauth_http, admin.email)).json()["access_token"]
    return {"Authorization": f"Bearer {token}"}


async def _token(http, auth=None, **data):
    return await http.post(
        "/oauth/token", data={"grant_type": "client_credentials", **data}, auth=auth
    )


async def test_admin_creates_a_client_and_sees_the_secret_once(
    oauth_http, oauth_db, oauth_settings, admin_headers
):
    r = await oauth_http.post(
        CLIENTS,
        json={"name": "  billing team ", "scopes": ["billing:read", "auth:read", "auth:read"]},
        headers=admin_headers,
    )
    assert r.status_code == 201, r.text
    created = r.json()
    assert created["name"] == "billing team" and created["kind"] == "machine"
    assert created["scopes"] == ["auth:read", "billing:read"]
    assert created["grant_types"] == ["client_credentials"] and created["revoked_at"] is None
    secret = created["client_secret"]

    row = await client_row(oauth_db, created["client_id"])
    assert row.client_secret_hash != secret and verify_password(row.client_secret_hash, secret)

    r = await oauth_http.get(f"{CLIENTS}/{created['id']}", headers=admin_headers)
    assert r.status_code == 200 and "client_secret" not in r.json()
    r = await oauth_http.get(f"{CLIENTS}/{created['client_id']}", headers=admin_headers)
    assert r.status_code == 200 and r.json()["id"] == created["id"]

    r = await _token(oauth_http, auth=(created["client_id"], secret))
    assert r.status_code == 200, r.text
    body = r.json()
    assert "refresh_token" not in body and body["scope"] == "auth:read billing:read"
    principal = await verify_with_published_keys(oauth_http, oauth_settings, body["access_token"])
    assert principal.kind == "client" and principal.subject == created["client_id"]
    assert principal.scopes == {"auth:read", "billing:read"} and principal.roles == frozenset()
    assert "sid" not in principal.claims
    assert (await client_row(oauth_db, created["client_id"])).last_used_at is not None

    async with oauth_db() as session:
        notes = (
            await session.execute(select(AuditNote).where(AuditNote.action.like("client.%")))
        ).scalars()
        assert any(created["client_id"] in n.detail for n in notes)


async def test_list_filters_and_paginates(oauth_http, oauth_db, admin_headers):
    active_id, _ = await make_machine(oauth_db, ["deploy:read"], name="active one")
    gone_id, _ = await make_machine(oauth_db, ["deploy:read"], name="revoked one")
    r = await oauth_http.post(f"{CLIENTS}/{gone_id}/revoke", headers=admin_headers)
    assert r.status_code == 200 and r.json()["revoked_at"] is not None

    revoked = (
        await oauth_http.get(f"{CLIENTS}?revoked=true&size=100", headers=admin_headers)
    ).json()
    active = (
        await oauth_http.get(f"{CLIENTS}?revoked=false&size=100", headers=admin_headers)
    ).json()
    assert gone_id in {c["client_id"] for c in revoked["items"]}
    assert gone_id not in {c["client_id"] for c in active["items"]}
    assert active_id in {c["client_id"] for c in active["items"]}
    assert all(c["kind"] == "machine" for c in active["items"])  # the panel is not listed

    page = (await oauth_http.get(f"{CLIENTS}?size=1&sort=name", headers=admin_headers)).json()
    assert len(page["items"]) == 1 and page["total"] >= 2 and page["pages"] == page["total"]
    r = await oauth_http.get(f"{CLIENTS}?sort=client_secret_hash", headers=admin_headers)
    assert r.status_code == 422 and r.json()["error"]["code"] == "validation_error"


async def test_scopes_are_checked_against_the_catalog(oauth_http, admin_headers):
    for scopes in (["billing:everything"], ["Billing:Read"], ["*"], [], ["x" * 65]):
        r = await oauth_http.post(
            CLIENTS, json={"name": "t", "scopes": scopes}, headers=admin_headers
        )
        assert r.status_code == 422, (scopes, r.text)
        assert r.json()["error"]["code"] == "validation_error"
    for body in (
        {"name": "", "scopes": ["deploy:read"]},
        {"name": "n" * 121, "scopes": ["deploy:read"]},
        {"name": "nul\x00name", "scopes": ["deploy:read"]},
        {"name": "ok", "scopes": ["deploy:read"], "client_secret": "mine"},
    ):
        r = await oauth_http.post(CLIENTS, json=body, headers=admin_headers)
        assert r.status_code == 422, (body, r.text)
    catalog = (await oauth_http.get(f"{CLIENTS}/scopes", headers=admin_headers)).json()
    names = {s["name"] for s in catalog}
    assert {"auth:introspect", "billing:read", "deploy:write"} <= names
    assert all(s["description"] for s in catalog)


async def test_only_admins_manage_clients(oauth_http, oauth_db):
    person = await make_person(oauth_db)
    token = (await login(oauth_http, person.email)).json()["access_token"]
    r = await oauth_http.get(CLIENTS, headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 403 and r.json()["error"]["code"] == "forbidden"
    r = await oauth_http.post(CLIENTS, json={"name": "x", "scopes": ["deploy:read"]})
    assert r.status_code == 401 and r.json()["error"]["code"] == "unauthorized"

    client_id, secret = await make_machine(oauth_db, ["deploy:write"])
    machine = (await _token(oauth_http, auth=(client_id, secret))).json()["access_token"]
    r = await oauth_http.get(CLIENTS, headers={"Authorization": f"Bearer {machine}"})
    assert r.status_code == 403


async def test_unknown_client_refs_are_404(oauth_http, admin_headers):
    for ref in ("00000000-0000-0000-0000-000000000000", "mc_nope", "berth-panel"):
        r = await oauth_http.get(f"{CLIENTS}/{ref}", headers=admin_headers)
        assert r.status_code == 404 and r.json()["error"]["code"] == "not_found"


async def test_rotating_the_secret_retires_the_old_one(oauth_http, oauth_db, admin_headers):
    client_id, old = await make_machine(oauth_db, ["monitoring:read"])
    r = await oauth_http.post(f"{CLIENTS}/{client_id}/rotate-secret", headers=admin_headers)
    assert r.status_code == 200
    new = r.json()["client_secret"]
    assert new != old
    assert (await _token(oauth_http, auth=(client_id, old))).status_code == 401
    assert (await _token(oauth_http, auth=(client_id, new))).status_code == 200


async def test_revoked_client_gets_invalid_client(oauth_http, oauth_db, admin_headers):
    client_id, secret = await make_machine(oauth_db, ["deploy:read"])
    assert (await _token(oauth_http, auth=(client_id, secret))).status_code == 200
    await oauth_http.post(f"{CLIENTS}/{client_id}/revoke", headers=admin_headers)
    # revoking twice is fine
    assert (
        await oauth_http.post(f"{CLIENTS}/{client_id}/revoke", headers=admin_headers)
    ).status_code == 200
    r = await _token(oauth_http, auth=(client_id, secret))
    assert r.status_code == 401 and r.json()["error"] == "invalid_client"
    assert r.headers["www-authenticate"].startswith("Basic")
    r = await _token(oauth_http, client_id=client_id, client_secret=secret)
    assert r.status_code == 401 and r.json()["error"] == "invalid_client"
    r = await oauth_http.post(f"{CLIENTS}/{client_id}/rotate-secret", headers=admin_headers)
    assert r.status_code == 409


async def test_client_credentials_scopes_and_auth_methods(oauth_http, oauth_db):
    client_id, secret = await make_machine(oauth_db, ["deploy:read", "deploy:write"])
    r = await _token(oauth_http, client_id=client_id, client_secret=secret, scope="deploy:read")
    assert r.status_code == 200 and r.json()["scope"] == "deploy:read"
    r = await _token(oauth_http, auth=(client_id, secret), scope="deploy:read billing:read")
    assert r.status_code == 400 and r.json()["error"] == "invalid_scope"
    r = await _token(oauth_http, auth=(client_id, "wrong secret"))
    assert r.status_code == 401 and r.json()["error"] == "invalid_client"
    r = await _token(oauth_http, client_id=client_id)
    assert r.status_code == 401 and r.json()["error"] == "invalid_client"
    # two authentication methods at once
    r = await _token(oauth_http, auth=(client_id, secret), client_secret=secret)
    assert r.status_code == 400 and r.json()["error"] == "invalid_request"
    # a malformed Basic header
    r = await oauth_http.post(
        "/oauth/token",
        data={"grant_type": "client_credentials"},
        headers={"Authorization": "Basic " + base64.b64encode(b"\xff\xfe").decode()},
    )
    assert r.status_code == 401 and r.json()["error"] == "invalid_client"
    # the panel (public) client cannot use client_credentials
    r = await _token(oauth_http, client_id="berth-panel")
    assert r.status_code == 400 and r.json()["error"] == "unauthorized_client"
