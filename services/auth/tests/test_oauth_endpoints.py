"""Discovery documents, malformed requests, and the operator CLI."""

import json
import subprocess
import sys
import uuid

import pytest
from fixtures_oauth import PANEL, client_row, load, login
from sqlalchemy import select

from berth_auth.models import User
from berth_testing.plugin import unique_email

TOKEN = "/oauth/token"
FORM = {"Content-Type": "application/x-www-form-urlencoded"}


async def test_jwks_publishes_only_public_keys(oauth_http, signing_jwks):
    r = await oauth_http.get("/.well-known/jwks.json")
    assert r.status_code == 200
    assert r.headers["cache-control"] == "public, max-age=300"
    keys = r.json()["keys"]
    assert [k["kid"] for k in keys] == [k["kid"] for k in signing_jwks["keys"]]
    for key in keys:
        assert key["kty"] == "EC" and key["crv"] == "P-256" and key["alg"] == "ES256"
        assert key["use"] == "sig" and "d" not in key and key["x"] and key["y"]


async def test_authorization_server_metadata(oauth_http, oauth_settings):
    r = await oauth_http.get("/.well-known/oauth-authorization-server")
    assert r.status_code == 200
    meta = r.json()
    issuer = oauth_settings.issuer
    assert meta["issuer"] == issuer
    assert meta["token_endpoint"] == f"{issuer}/oauth/token"
    assert meta["jwks_uri"] == f"{issuer}/.well-known/jwks.json"
    assert meta["revocation_endpoint"] == f"{issuer}/oauth/revoke"
    assert meta["introspection_endpoint"] == f"{issuer}/oauth/introspect"
    assert set(meta["grant_types_supported"]) == {"password", "refresh_token", "client_credentials"}
    assert meta["response_types_supported"] == []
    assert {"client_secret_basic", "client_secret_post", "none"} == set(
        meta["token_endpoint_auth_methods_supported"]
    )
    assert "auth:introspect" in meta["scopes_supported"]


@pytest.mark.parametrize(
    ("content", "headers", "error"),
    [
        (
            json.dumps({"grant_type": "password"}).encode(),
            {"Content-Type": "application/json"},
            "invalid_request",
        ),
        (b"grant_type=password", {"Content-Type": "text/plain"}, "invalid_request"),
        (b"", FORM, "invalid_request"),
        (b"client_id=berth-panel", FORM, "invalid_request"),
        (b"grant_type=authorization_code&code=x", FORM, "unsupported_grant_type"),
        (b"grant_type=password&grant_type=client_credentials", FORM, "invalid_request"),
        (
            b"grant_type=password&username=a%00b&password=x&client_id=berth-panel",
            FORM,
            "invalid_request",
        ),
        (
            b"grant_type=password&username=%FF%FE&password=x&client_id=berth-panel",
            FORM,
            "invalid_request",
        ),
        ("grant_type=password&username=\u00e9".encode(), FORM, "invalid_request"),
        (b"grant_type=" + b"x" * 20000, FORM, "invalid_request"),
        (b"&".join(b"f%d=1" % i for i in range(100)), FORM, "invalid_request"),
        (b"{not json", FORM, "invalid_request"),
    ],
)
async def test_malformed_token_requests_get_oauth_errors(oauth_http, content, headers, error):
    r = await oauth_http.post(TOKEN, content=content, headers=headers)
    assert r.status_code == 400, r.text
    assert r.json()["error"] == error
    assert set(r.json()) <= {"error", "error_description"}


@pytest.mark.parametrize("path", ["/oauth/revoke", "/oauth/introspect"])
async def test_malformed_revoke_and_introspect_bodies(oauth_http, path):
    r = await oauth_http.post(path, json={"token": "x", "client_id": PANEL})
    assert r.status_code == 400 and r.json()["error"] == "invalid_request"
    r = await oauth_http.post(path, data={"token": "x" * 5000, "client_id": PANEL})
    assert 400 <= r.status_code < 500
    r = await oauth_http.post(
        path, data={"token": "x"}, headers={"Authorization": "Basic !!!not-base64"}
    )
    assert r.status_code == 401 and r.json()["error"] == "invalid_client"


async def test_junk_forwarded_for_and_user_agent_do_not_break_login(oauth_http, oauth_db):
    from fixtures_oauth import make_person

    person = await make_person(oauth_db)
    r = await oauth_http.post(
        TOKEN,
        data={
            "grant_type": "password",
            "username": person.email,
            "password": "correct horse battery",
            "client_id": PANEL,
        },
        headers={"X-Forwarded-For": "not-an-ip, also bad", "User-Agent": "u" * 3000},
    )
    assert r.status_code == 200, r.text


def _cli(env: dict[str, str], *args: str, stdin: str = "") -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "berth_auth.cli", *args],
        env=env,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


async def test_cli_bootstrap_is_idempotent_and_creates_the_admin(berth_env, oauth_http, oauth_db):
    email = f"Boot-{uuid.uuid4().hex[:8]}@Example.TEST"
    env = {
        **berth_env,
        "AUTH_BOOTSTRAP_ADMIN_EMAIL": email,
        "AUTH_BOOTSTRAP_ADMIN_PASSWORD": "bootstrap password 1",
    }
    first = _cli(env, "bootstrap")
    assert first.returncode == 0, first.stderr
    assert f"admin {email.lower()}: created" in first.stdout
    assert "bootstrap password 1" not in first.stdout + first.stderr
    again = _cli(env, "bootstrap")
    assert again.returncode == 0 and f"admin {email.lower()}: ok" in again.stdout

    panel = await client_row(oauth_db, PANEL)
    assert panel.kind == "first_party" and panel.client_secret_hash is None
    assert sorted(panel.grant_types) == ["password", "refresh_token"]
    async with oauth_db() as session:
        admins = (await session.execute(select(User).where(User.email == email.lower()))).all()
    assert len(admins) == 1
    admin = admins[0][0]
    assert sorted(admin.roles) == ["admin", "user"] and admin.email_verified_at is not None
    r = await login(oauth_http, email, "bootstrap password 1")
    assert r.status_code == 200, r.text


async def test_cli_create_admin_reads_the_password_from_stdin(berth_env, oauth_http, oauth_db):
    email = unique_email("ops")
    r = _cli(berth_env, "create-admin", email, stdin="operator password 9\n")
    assert r.returncode == 0, r.stderr
    assert (await login(oauth_http, email, "operator password 9")).status_code == 200
    # run again: promotes and resets the password
    r = _cli(berth_env, "create-admin", email, stdin="operator password 10\n")
    assert r.returncode == 0 and "updated" in r.stdout
    assert (await login(oauth_http, email, "operator password 10")).status_code == 200
    async with oauth_db() as session:
        user = (await session.execute(select(User).where(User.email == email))).scalar_one()
    assert "admin" in (await load(oauth_db, User, user.id)).roles

    weak = _cli(berth_env, "create-admin", unique_email("weak"), stdin="short\n")
    assert weak.returncode == 2 and "10-128" in weak.stderr
    bad = _cli(berth_env, "create-admin", "not-an-email", stdin="long enough password\n")
    assert bad.returncode == 2 and "invalid email" in bad.stderr
