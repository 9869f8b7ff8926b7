"""Revocation bites within seconds, through real processes: a blocked user, a role change, a
password change, a signed-out session and a revoked machine client leave the old access token
refused at the gateway (its forwardAuth answer), through Traefik, and directly at the services
that verify tokens themselves; a restarted gateway rebuilds its list from auth."""

import time
from collections.abc import Callable

import httpx
import pytest
from support import ADMIN_EMAIL, ADMIN_PASSWORD, PASSWORD

from berth_testing.oauth import bearer, password_login, refresh

WITHIN = 5.0  # seconds: the promise

#: what a person's token may read at each service, when that service runs in this test run
PERSON_READS = {
    "auth": "/api/auth/v1/me",
    "deploy": "/api/deploy/v1/apps",
    "billing": "/api/billing/v1/account",
}


def _token_checks(
    platform, token: str, reads: dict[str, str], gateway_uri: str
) -> dict[str, Callable[[], int]]:
    """name -> a call with `token` returning its status: the gateway's forwardAuth (for
    `gateway_uri`), auth's read through Traefik, and each running service's read directly
    (`reads`: service -> path)."""
    checks = {
        "gateway /verify": lambda: (
            httpx.get(
                f"{platform.url('gateway')}/verify",
                headers={
                    "X-Forwarded-Method": "GET",
                    "X-Forwarded-Uri": gateway_uri,
                    "X-Forwarded-For": "127.0.0.1",
                    **bearer(token),
                },
            ).status_code
        ),
        "through traefik": lambda: (
            httpx.get(f"{platform.public_url}{reads['auth']}", headers=bearer(token)).status_code
        ),
    }
    for service, path in reads.items():
        if service in platform.processes:
            url = f"{platform.url(service)}{path}"
            checks[f"{service} directly"] = lambda url=url: (
                httpx.get(url, headers=bearer(token)).status_code
            )
    return checks


def person_checks(platform, token: str) -> dict[str, Callable[[], int]]:
    """name -> a call with `token` returning its status; each refuses a revoked token with 401."""
    checks = _token_checks(platform, token, PERSON_READS, "/api/deploy/v1/apps")
    if "frontend" in platform.processes:
        # the panel checks the cookie itself: a revoked token (and no refresh cookie) signs out
        def panel() -> int:
            r = httpx.get(
                f"{platform.url('frontend')}/panel", headers={"Cookie": f"berth_access={token}"}
            )
            return 401 if r.status_code == 303 else r.status_code

        checks["frontend directly"] = panel
    return checks


def client_checks(platform, token: str, user_id: str) -> dict[str, Callable[[], int]]:
    reads = {
        "auth": f"/api/auth/v1/users/{user_id}",
        "billing": f"/api/billing/v1/accounts/by-owner/{user_id}",
    }
    return _token_checks(platform, token, reads, reads["auth"])


def assert_accepted(checks: dict[str, Callable[[], int]]) -> None:
    for name, check in checks.items():
        status = check()
        assert status != 401 and status < 500, (name, status)


def assert_refused_within(checks: dict[str, Callable[[], int]], seconds: float = WITHIN) -> float:
    """Poll every check until each answers 401; the time the last one took."""
    started = time.monotonic()
    pending = dict(checks)
    while pending:
        for name in list(pending):
            if pending[name]() == 401:
                del pending[name]
        elapsed = time.monotonic() - started
        assert elapsed <= seconds or not pending, f"still accepted after {elapsed:.1f}s: {pending}"
        if pending:
            time.sleep(0.1)
    return time.monotonic() - started


@pytest.fixture
def person(edge, register_verified) -> dict:
    email = register_verified()
    tokens = password_login(edge, email, PASSWORD).json()
    me = edge.get("/api/auth/v1/me", headers=bearer(tokens["access_token"])).json()
    return {"email": email, "id": me["id"], **tokens}


def test_blocking_a_user_refuses_their_token_everywhere_within_seconds(
    edge, platform, person, admin_token
):
    checks = person_checks(platform, person["access_token"])
    assert len(checks) >= 3
    assert_accepted(checks)
    r = edge.post(
        f"/api/auth/v1/admin/users/{person['id']}/block",
        json={"reason": "abuse"},
        headers=bearer(admin_token),
    )
    assert r.status_code == 200, r.text
    assert assert_refused_within(checks) <= WITHIN
    r = edge.post(f"/api/auth/v1/admin/users/{person['id']}/unblock", headers=bearer(admin_token))
    assert r.status_code == 200
    fresh = password_login(edge, person["email"], PASSWORD).json()["access_token"]
    assert_accepted(person_checks(platform, fresh))


def test_a_role_change_refuses_the_old_token_within_seconds(edge, platform, person, admin_token):
    checks = person_checks(platform, person["access_token"])
    assert_accepted(checks)
    r = edge.put(
        f"/api/auth/v1/admin/users/{person['id']}/roles",
        json={"roles": ["user", "oncall"]},
        headers=bearer(admin_token),
    )
    assert r.status_code == 200, r.text
    assert_refused_within(checks)
    # the session goes on: a refresh brings a token with the new roles, accepted at once
    renewed = refresh(edge, person["refresh_token"]).json()["access_token"]
    me = edge.get("/api/auth/v1/me", headers=bearer(renewed)).json()
    assert "oncall" in me["roles"]
    assert_accepted(person_checks(platform, renewed))


def test_a_password_change_refuses_older_tokens_within_seconds(edge, platform, register_verified):
    email = register_verified()
    here = password_login(edge, email, PASSWORD).json()
    elsewhere = password_login(edge, email, PASSWORD).json()
    checks = person_checks(platform, elsewhere["access_token"])
    assert_accepted(checks)
    r = edge.post(
        "/api/auth/v1/me/password",
        json={"current_password": PASSWORD, "new_password": "changed password 77"},
        headers=bearer(here["access_token"]),
    )
    assert r.status_code in (200, 204), r.text
    assert_refused_within(checks)
    assert refresh(edge, elsewhere["refresh_token"]).status_code == 400


def test_signing_a_session_out_refuses_its_token_within_seconds(edge, platform, register_verified):
    email = register_verified()
    keep = password_login(edge, email, PASSWORD).json()
    drop = password_login(edge, email, PASSWORD).json()
    sid = edge.post(
        "/oauth/introspect", data={"token": drop["access_token"]}, auth=introspector(edge)
    ).json()["sid"]
    checks = person_checks(platform, drop["access_token"])
    assert_accepted(checks)
    r = edge.delete(f"/api/auth/v1/me/sessions/{sid}", headers=bearer(keep["access_token"]))
    assert r.status_code == 204, r.text
    assert_refused_within(checks)
    assert_accepted(person_checks(platform, keep["access_token"]))


def test_logout_refuses_the_sessions_token_within_seconds(edge, platform, register_verified):
    email = register_verified()
    session = password_login(edge, email, PASSWORD).json()
    checks = person_checks(platform, session["access_token"])
    assert_accepted(checks)
    r = edge.post(
        "/oauth/revoke", data={"token": session["refresh_token"], "client_id": "berth-panel"}
    )
    assert r.status_code == 200
    assert_refused_within(checks)


def test_revoking_a_machine_client_refuses_its_token_within_seconds(
    edge, platform, person, admin_token
):
    r = edge.post(
        "/api/auth/v1/admin/clients",
        json={"name": "revoked team", "scopes": ["auth:read", "billing:read"]},
        headers=bearer(admin_token),
    )
    assert r.status_code == 201, r.text
    client = r.json()
    token = edge.post(
        "/oauth/token",
        data={"grant_type": "client_credentials"},
        auth=(client["client_id"], client["client_secret"]),
    ).json()["access_token"]
    checks = client_checks(platform, token, person["id"])
    assert_accepted(checks)
    r = edge.post(
        f"/api/auth/v1/admin/clients/{client['client_id']}/revoke", headers=bearer(admin_token)
    )
    assert r.status_code == 200, r.text
    assert_refused_within(checks)


def test_a_restarted_gateway_rebuilds_its_list_from_auth(edge, platform, register_verified):
    email = register_verified()
    revoked = password_login(edge, email, PASSWORD).json()
    live = password_login(edge, email, PASSWORD).json()
    edge.post("/oauth/revoke", data={"token": revoked["refresh_token"], "client_id": "berth-panel"})
    assert_refused_within(person_checks(platform, revoked["access_token"]))
    platform.processes.pop("gateway").stop()
    platform.start_web("gateway")
    gateway_only = {
        "gateway /verify": person_checks(platform, revoked["access_token"])["gateway /verify"]
    }
    # refused from its first answer on: the list was loaded before it served
    assert gateway_only["gateway /verify"]() == 401
    assert_accepted(
        {"gateway /verify": person_checks(platform, live["access_token"])["gateway /verify"]}
    )
    assert edge.get("/api/auth/v1/me", headers=bearer(revoked["access_token"])).status_code == 401


def test_the_revocation_list_is_not_reachable_through_traefik(edge, platform):
    assert httpx.get(f"{platform.url('auth')}/internal/revocations").status_code == 200
    for host in (None, "ghost.apps.localhost"):
        headers = {"Host": host} if host else {}
        assert edge.get("/internal/revocations", headers=headers).status_code == 404


def introspector(edge) -> tuple[str, str]:
    """A machine client allowed to introspect (to learn a token's session id)."""
    admin = password_login(edge, ADMIN_EMAIL, ADMIN_PASSWORD).json()["access_token"]
    r = edge.post(
        "/api/auth/v1/admin/clients",
        json={"name": "introspector", "scopes": ["auth:introspect"]},
        headers=bearer(admin),
    )
    assert r.status_code == 201, r.text
    return r.json()["client_id"], r.json()["client_secret"]
