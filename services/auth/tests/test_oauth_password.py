"""The password grant: what the panel's login form gets back, and what it leaves behind."""

import asyncio
import time
import uuid

from argon2 import PasswordHasher
from fixtures_oauth import (
    BACKSTOP,
    BACKSTOP_DELAY,
    MAX_PER_ACCOUNT,
    MAX_PER_IP,
    PANEL,
    PASSWORD,
    family_of,
    load,
    login,
    login_events,
    make_machine,
    make_person,
    random_ip,
    verify_with_published_keys,
)

from berth_auth.models import User
from berth_auth.passwords import needs_rehash
from berth_testing.plugin import unique_email


async def test_login_issues_tokens_that_other_services_accept(oauth_http, oauth_db, oauth_settings):
    person = await make_person(oauth_db, roles=("user", "support"))
    r = await login(oauth_http, person.email.upper(), ip="203.0.113.7")
    assert r.status_code == 200, r.text
    assert r.headers["cache-control"] == "no-store" and r.headers["pragma"] == "no-cache"
    body = r.json()
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == oauth_settings.access_token_expire_minutes * 60
    assert body["scope"] == "" and len(body["refresh_token"]) >= 40

    principal = await verify_with_published_keys(oauth_http, oauth_settings, body["access_token"])
    assert principal.kind == "user" and principal.subject == str(person.id)
    assert principal.client_id == PANEL
    assert principal.roles == {"user", "support"}
    claims = principal.claims
    assert claims["iss"] == oauth_settings.issuer and claims["aud"] == "berth"
    assert claims["exp"] - claims["iat"] == body["expires_in"]
    uuid.UUID(claims["jti"])

    family = await family_of(oauth_db, claims["sid"])
    assert family.user_id == person.id and family.client_id == PANEL
    assert str(family.ip) == "203.0.113.7" and family.user_agent == "oauth-tests/1.0"
    assert family.revoked_at is None and family.expires_at > family.created_at

    events = await login_events(oauth_db, person.email)
    assert [(e.success, e.reason, e.user_id) for e in events] == [(True, None, person.id)]


async def test_wrong_password_and_unknown_email_look_the_same(oauth_http, oauth_db):
    person = await make_person(oauth_db)
    wrong = await login(oauth_http, person.email, "not the password at all")
    unknown = await login(oauth_http, unique_email("nobody"), PASSWORD)
    assert wrong.status_code == unknown.status_code == 400
    assert (
        wrong.json()
        == unknown.json()
        == {
            "error": "invalid_grant",
            "error_description": "Invalid email or password",
        }
    )
    assert wrong.headers["cache-control"] == "no-store"
    events = await login_events(oauth_db, person.email)
    assert [(e.success, e.reason) for e in events] == [(False, "invalid_credentials")]


async def test_unverified_email_is_told_only_after_the_right_password(oauth_http, oauth_db):
    person = await make_person(oauth_db, verified=False)
    guess = await login(oauth_http, person.email, "a wrong guess here")
    assert guess.json()["error_description"] == "Invalid email or password"
    right = await login(oauth_http, person.email)
    assert right.status_code == 400
    assert right.json() == {"error": "invalid_grant", "error_description": "email not verified"}
    reasons = [e.reason for e in await login_events(oauth_db, person.email)]
    assert reasons == ["invalid_credentials", "email_not_verified"]


async def test_blocked_user_cannot_log_in(oauth_http, oauth_db):
    person = await make_person(oauth_db, blocked=True)
    r = await login(oauth_http, person.email)
    assert r.status_code == 400 and r.json()["error"] == "invalid_grant"
    assert "access_token" not in r.json()
    assert [e.reason for e in await login_events(oauth_db, person.email)] == ["blocked"]


async def test_too_many_failures_at_one_account_from_one_address_answer_429(oauth_http, oauth_db):
    person = await make_person(oauth_db)
    attacker = random_ip()
    statuses = [
        (await login(oauth_http, person.email, f"wrong password {i}", ip=attacker)).status_code
        for i in range(MAX_PER_ACCOUNT)
    ]
    assert statuses == [400] * MAX_PER_ACCOUNT
    # from that address even the right password is refused while throttled
    r = await login(oauth_http, person.email, ip=attacker)
    assert r.status_code == 429
    assert r.json()["error"] == "rate_limited"
    retry_after = int(r.headers["retry-after"])
    assert 1 <= retry_after <= 15 * 60 + 1
    reasons = [e.reason for e in await login_events(oauth_db, person.email)]
    assert reasons[-1] == "rate_limited" and "access_token" not in r.json()
    # the owner, from their own address, is not locked out by it
    assert (await login(oauth_http, person.email, ip=random_ip())).status_code == 200
    # an unregistered email is throttled alike: the answer tells nothing about existence
    ghost, elsewhere = unique_email("ghost"), random_ip()  # (per-address limit aside)
    for i in range(MAX_PER_ACCOUNT):
        assert (await login(oauth_http, ghost, f"guess {i}", ip=elsewhere)).status_code == 400
    unknown = await login(oauth_http, ghost, ip=elsewhere)
    assert unknown.status_code == 429 and unknown.json() == r.json()


async def test_concurrent_guesses_never_get_more_than_the_limit_evaluated(oauth_http, oauth_db):
    person = await make_person(oauth_db)
    attacker = random_ip()
    responses = await asyncio.gather(
        *(login(oauth_http, person.email, f"guess number {i}", ip=attacker) for i in range(20))
    )
    statuses = [r.status_code for r in responses]
    assert statuses.count(400) == MAX_PER_ACCOUNT, statuses
    assert statuses.count(429) == 20 - MAX_PER_ACCOUNT, statuses
    reasons = [e.reason for e in await login_events(oauth_db, person.email)]
    assert reasons.count("invalid_credentials") == MAX_PER_ACCOUNT
    assert reasons.count("rate_limited") == 20 - MAX_PER_ACCOUNT


async def test_guesses_from_many_addresses_slow_the_account_but_never_lock_out_its_owner(
    oauth_http, oauth_db
):
    person = await make_person(oauth_db)
    ghost = unique_email("ghost")
    for email in (person.email, ghost):
        for i in range(BACKSTOP):  # each from an address of its own: no pair reaches its limit
            assert (await login(oauth_http, email, f"botnet guess {i}")).status_code == 400
    started = time.monotonic()
    owner = await login(oauth_http, person.email)
    assert owner.status_code == 200, owner.text  # delayed, not refused
    assert time.monotonic() - started >= BACKSTOP_DELAY
    # an unregistered email waits the same and answers as any wrong password
    started = time.monotonic()
    unknown = await login(oauth_http, ghost)
    assert time.monotonic() - started >= BACKSTOP_DELAY
    assert unknown.status_code == 400 and unknown.json()["error"] == "invalid_grant"


async def test_too_many_failures_from_one_address_answer_429(oauth_http, oauth_db):
    ip = random_ip()
    for _ in range(MAX_PER_IP):
        r = await login(oauth_http, unique_email("spray"), "password spraying", ip=ip)
        assert r.status_code == 400
    person = await make_person(oauth_db)
    assert (await login(oauth_http, person.email, ip=ip)).status_code == 429
    # the person is fine from anywhere else
    assert (await login(oauth_http, person.email, ip=random_ip())).status_code == 200


async def test_a_success_resets_the_account_counter(oauth_http, oauth_db):
    person = await make_person(oauth_db)
    for i in range(MAX_PER_ACCOUNT - 1):
        assert (await login(oauth_http, person.email, f"typo number {i}")).status_code == 400
    assert (await login(oauth_http, person.email)).status_code == 200
    for i in range(MAX_PER_ACCOUNT - 1):
        assert (await login(oauth_http, person.email, f"typo again {i}")).status_code == 400
    assert (await login(oauth_http, person.email)).status_code == 200


async def test_outdated_password_hash_is_upgraded_on_login(oauth_http, oauth_db):
    weak = PasswordHasher(time_cost=1, memory_cost=8192, parallelism=1).hash(PASSWORD)
    assert needs_rehash(weak)
    person = await make_person(oauth_db, password_hash=weak)
    assert (await login(oauth_http, person.email)).status_code == 200
    stored = await load(oauth_db, User, person.id)
    assert stored.password_hash != weak and not needs_rehash(stored.password_hash)
    assert (await login(oauth_http, person.email)).status_code == 200


async def test_password_grant_is_for_the_panel_client_only(oauth_http, oauth_db):
    person = await make_person(oauth_db)
    client_id, secret = await make_machine(oauth_db, ["deploy:read"])
    r = await oauth_http.post(
        "/oauth/token",
        data={"grant_type": "password", "username": person.email, "password": PASSWORD},
        auth=(client_id, secret),
    )
    assert r.status_code == 400 and r.json()["error"] == "unauthorized_client"

    r = await login(oauth_http, person.email, client_id="no-such-client")
    assert r.status_code == 401 and r.json()["error"] == "invalid_client"
    r = await login(oauth_http, person.email, client_id=PANEL, client_secret="public has none")
    assert r.status_code == 401 and r.json()["error"] == "invalid_client"
    data = {"grant_type": "password", "username": person.email, "password": PASSWORD}
    r = await oauth_http.post("/oauth/token", data=data)
    assert r.status_code == 401 and r.json()["error"] == "invalid_client"
    assert await login_events(oauth_db, person.email) == []


async def test_people_cannot_ask_for_machine_scopes(oauth_http, oauth_db):
    person = await make_person(oauth_db)
    r = await login(oauth_http, person.email, scope="billing:write")
    assert r.status_code == 400 and r.json()["error"] == "invalid_scope"
    assert await login_events(oauth_db, person.email) == []


async def test_missing_or_oversized_login_fields_are_invalid_request(oauth_http):
    r = await oauth_http.post("/oauth/token", data={"grant_type": "password", "client_id": PANEL})
    assert r.status_code == 400 and r.json()["error"] == "invalid_request"
    assert "username" in r.json()["error_description"]
    r = await login(oauth_http, "a" * 300 + "@example.test")
    assert r.status_code == 400 and r.json()["error"] == "invalid_request"
    r = await login(oauth_http, unique_email(), "p" * 5000)
    assert r.status_code == 400 and r.json()["error"] == "invalid_request"
    # empty values count as absent (RFC 6749 §3.1)
    r = await login(oauth_http, "")
    assert r.status_code == 400 and r.json()["error"] == "invalid_request"
