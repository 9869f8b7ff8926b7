"""A person's whole account life through Traefik: register, mail, verify, login, refresh,
reuse detection, profile, password change and reset, login history, logout."""

import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import httpx
from support import PASSWORD, code_from_mail

from berth_testing.oauth import bearer, password_login

# what tests/conftest.py gives the platform's auth
LIMIT_PER_ACCOUNT_AND_ADDRESS = 5
BACKSTOP_DELAY_SECONDS = 1.0


def test_register_verify_login_refresh_and_reuse_detection(edge, platform):
    email = f"Person-{uuid.uuid4().hex[:8]}@Example.TEST"
    r = edge.post(
        "/api/auth/v1/register", json={"email": email, "password": PASSWORD, "name": "Ada"}
    )
    assert r.status_code == 201, r.text
    assert r.json()["email"] == email.lower()
    # the same address in another case is the same account
    assert (
        edge.post(
            "/api/auth/v1/register", json={"email": email.upper(), "password": PASSWORD}
        ).status_code
        == 409
    )

    # not verified yet: the right password still cannot log in
    r = password_login(edge, email, PASSWORD)
    assert r.status_code == 400 and r.json()["error"] == "invalid_grant"

    code = code_from_mail(platform, email.lower())
    wrong = "000000" if code != "000000" else "111111"
    r = edge.post("/api/auth/v1/verify-email", json={"email": email, "code": wrong})
    assert 400 <= r.status_code < 500
    r = edge.post("/api/auth/v1/verify-email", json={"email": email, "code": code})
    assert r.status_code == 200, r.text

    r = password_login(edge, email, PASSWORD)
    assert r.status_code == 200, r.text
    tokens = r.json()
    assert tokens["token_type"].lower() == "bearer" and r.headers["cache-control"] == "no-store"

    me = edge.get("/api/auth/v1/me", headers=bearer(tokens["access_token"]))
    assert me.status_code == 200 and me.json()["email"] == email.lower()

    refresh = lambda token: edge.post(  # noqa: E731
        "/oauth/token",
        data={"grant_type": "refresh_token", "refresh_token": token, "client_id": "berth-panel"},
    )
    r1 = refresh(tokens["refresh_token"])
    assert r1.status_code == 200, r1.text
    newest = r1.json()
    assert newest["refresh_token"] != tokens["refresh_token"]
    assert edge.get("/api/auth/v1/me", headers=bearer(newest["access_token"])).status_code == 200

    # the old refresh token comes back: reuse detected, the whole family dies
    reused = refresh(tokens["refresh_token"])
    assert reused.status_code == 400 and reused.json()["error"] == "invalid_grant"
    assert refresh(newest["refresh_token"]).status_code == 400
    # and so do its access tokens, within seconds
    deadline = time.monotonic() + 5
    while edge.get("/api/auth/v1/me", headers=bearer(newest["access_token"])).status_code != 401:
        assert time.monotonic() < deadline, "the reused session's access token still works"
        time.sleep(0.1)

    fresh = password_login(edge, email, PASSWORD).json()
    sessions = edge.get("/api/auth/v1/me/sessions", headers=bearer(fresh["access_token"])).json()
    items = sessions["items"] if isinstance(sessions, dict) else sessions
    assert any(s.get("revoked_at") for s in items)


def test_profile_password_change_and_logout(edge, platform, register_verified):
    email = register_verified()
    first = password_login(edge, email, PASSWORD).json()
    second = password_login(edge, email, PASSWORD).json()

    r = edge.patch(
        "/api/auth/v1/me",
        json={"name": "Ada L.", "phone": "+44 20 7946 0958"},
        headers=bearer(first["access_token"]),
    )
    assert r.status_code == 200, r.text
    assert r.json()["name"] == "Ada L." and r.json()["phone"] == "+442079460958"
    assert (
        edge.patch(
            "/api/auth/v1/me", json={"phone": "12"}, headers=bearer(first["access_token"])
        ).status_code
        == 422
    )

    new_password = "another good password 2"
    r = edge.post(
        "/api/auth/v1/me/password",
        json={"current_password": PASSWORD, "new_password": new_password},
        headers=bearer(first["access_token"]),
    )
    assert r.status_code in (200, 204), r.text
    # the other session is gone, this one stays
    other = edge.post(
        "/oauth/token",
        data={
            "grant_type": "refresh_token",
            "refresh_token": second["refresh_token"],
            "client_id": "berth-panel",
        },
    )
    assert other.status_code == 400
    assert password_login(edge, email, PASSWORD).status_code == 400
    fresh = password_login(edge, email, new_password)
    assert fresh.status_code == 200
    platform.wait_for_mail(email, count=2)  # verification + "password changed"

    # logout: revoke the refresh token; it no longer refreshes
    token = fresh.json()["refresh_token"]
    r = edge.post(
        "/oauth/revoke",
        data={"token": token, "token_type_hint": "refresh_token", "client_id": "berth-panel"},
    )
    assert r.status_code == 200
    r = edge.post(
        "/oauth/token",
        data={"grant_type": "refresh_token", "refresh_token": token, "client_id": "berth-panel"},
    )
    assert r.status_code == 400


def test_password_reset_by_mailed_code(edge, platform, register_verified):
    email = register_verified()
    session = password_login(edge, email, PASSWORD).json()
    assert (
        edge.post("/api/auth/v1/password-reset/request", json={"email": email}).status_code == 202
    )
    # unknown addresses get the same answer
    assert (
        edge.post(
            "/api/auth/v1/password-reset/request", json={"email": "nobody-" + email}
        ).status_code
        == 202
    )
    code = code_from_mail(platform, email, count=2)
    new_password = "reset to this password 3"
    r = edge.post(
        "/api/auth/v1/password-reset/confirm",
        json={"email": email, "code": code, "new_password": new_password},
    )
    assert r.status_code in (200, 204), r.text
    assert password_login(edge, email, new_password).status_code == 200
    # every earlier session was revoked
    r = edge.post(
        "/oauth/token",
        data={
            "grant_type": "refresh_token",
            "refresh_token": session["refresh_token"],
            "client_id": "berth-panel",
        },
    )
    assert r.status_code == 400
    # the code is single-use
    r = edge.post(
        "/api/auth/v1/password-reset/confirm",
        json={"email": email, "code": code, "new_password": "yet another password 4"},
    )
    assert 400 <= r.status_code < 500


def test_login_history_shows_failures_and_successes(edge, register_verified):
    email = register_verified()
    assert password_login(edge, email, "wrong password here").status_code == 400
    ok = password_login(edge, email, PASSWORD).json()
    r = edge.get(
        "/api/auth/v1/me/login-history",
        headers={**bearer(ok["access_token"]), "User-Agent": "journey-test"},
    )
    assert r.status_code == 200
    items = r.json()["items"]
    assert [i["success"] for i in items[:2]] == [True, False]
    assert all(i["ip"] for i in items[:2])


def test_brute_force_is_slowed(edge, register_verified):
    email = register_verified()
    statuses = [password_login(edge, email, f"wrong-{i}-password").status_code for i in range(7)]
    assert statuses[:5] == [400] * 5
    assert 429 in statuses[5:]
    # even the right password is refused while the account is throttled
    r = password_login(edge, email, PASSWORD)
    assert r.status_code == 429 and "retry-after" in r.headers


def from_address(platform, ip: str) -> httpx.Client:
    """A client whose connections to Traefik come from `ip` (any 127.0.0.0/8 address works on
    loopback): Traefik, and so auth, see it as the caller's address."""
    transport = httpx.HTTPTransport(local_address=ip)
    return httpx.Client(base_url=platform.public_url, timeout=60, transport=transport)


def test_concurrent_wrong_passwords_get_at_most_the_limit_evaluated(platform, register_verified):
    email = register_verified()
    with from_address(platform, "127.0.0.5") as client, ThreadPoolExecutor(20) as pool:
        statuses = list(
            pool.map(lambda i: password_login(client, email, f"wrong-{i}").status_code, range(20))
        )
    assert statuses.count(400) <= LIMIT_PER_ACCOUNT_AND_ADDRESS, statuses
    assert statuses.count(400) + statuses.count(429) == 20, statuses
    with from_address(platform, "127.0.0.6") as owner:
        tokens = password_login(owner, email, PASSWORD).json()
        history = owner.get(
            "/api/auth/v1/me/login-history",
            params={"limit": 100},
            headers=bearer(tokens["access_token"]),
        ).json()["items"]
    evaluated = [i for i in history if i["reason"] == "invalid_credentials"]
    assert len(evaluated) == statuses.count(400)


def test_an_attacker_elsewhere_cannot_lock_out_the_owner(platform, register_verified):
    email = register_verified()
    for attacker in ("127.0.0.2", "127.0.0.3"):
        with from_address(platform, attacker) as client:
            statuses = [password_login(client, email, f"guess-{i}").status_code for i in range(7)]
            assert statuses == [400] * 5 + [429] * 2, (attacker, statuses)
            # that address is locked out of this account, even with the right password
            r = password_login(client, email, PASSWORD)
            assert r.status_code == 429 and int(r.headers["retry-after"]) > 0
    # 10 wrong guesses from elsewhere are past the backstop: the owner waits, and gets in
    with from_address(platform, "127.0.0.4") as owner:
        started = time.monotonic()
        r = password_login(owner, email, PASSWORD)
        waited = time.monotonic() - started
    assert r.status_code == 200, r.text
    assert waited >= BACKSTOP_DELAY_SECONDS
