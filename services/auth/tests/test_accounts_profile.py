"""The signed-in user's own account: /me, password change, sessions, login history."""

import uuid
from datetime import UTC, datetime, timedelta

from fixtures_accounts import (
    API,
    PASSWORD,
    bearer,
    emails_to,
    error_code,
    fetch_user,
    make_family,
    make_user,
    random_ip,
    token_for,
)
from sqlalchemy import select

from berth_auth.models import LoginEvent, RefreshTokenFamily
from berth_auth.passwords import verify_password
from berth_auth.tokens import mint_access_token
from berth_testing.plugin import unique_email


async def test_me_shows_the_signed_in_user(accounts_http, accounts_db, accounts_settings):
    user = await make_user(accounts_db, name="Grace", verified=False)
    response = await accounts_http.get(
        f"{API}/me", headers=bearer(token_for(accounts_settings, user))
    )
    assert response.status_code == 200
    body = response.json()
    assert body["id"] == str(user.id)
    assert (body["email"], body["name"], body["phone"]) == (user.email, "Grace", None)
    assert body["roles"] == ["user"]
    assert body["email_verified"] is False
    assert "password_hash" not in body


async def test_me_needs_a_valid_person_token(accounts_http, accounts_db, accounts_settings):
    assert (await accounts_http.get(f"{API}/me")).status_code == 401
    garbage = await accounts_http.get(f"{API}/me", headers=bearer("not.a.jwt"))
    assert garbage.status_code == 401
    basic = await accounts_http.get(f"{API}/me", headers={"Authorization": "Basic abc"})
    assert basic.status_code == 401
    machine = mint_access_token(
        accounts_settings, subject="svc-x", client_id="svc-x", scope="users:read", roles=[]
    ).token
    response = await accounts_http.get(f"{API}/me", headers=bearer(machine))
    assert response.status_code == 403
    assert error_code(response) == "forbidden"
    ghost = mint_access_token(
        accounts_settings, subject=str(uuid.uuid4()), client_id="berth-panel", scope="", roles=[]
    ).token
    assert (await accounts_http.get(f"{API}/me", headers=bearer(ghost))).status_code == 401


async def test_blocked_user_cannot_use_me(accounts_http, accounts_db, accounts_settings):
    user = await make_user(accounts_db, blocked=True)
    response = await accounts_http.get(
        f"{API}/me", headers=bearer(token_for(accounts_settings, user))
    )
    assert response.status_code == 403
    assert error_code(response) == "account_blocked"


async def test_patch_me_updates_and_normalises(accounts_http, accounts_db, accounts_settings):
    user = await make_user(accounts_db)
    headers = bearer(token_for(accounts_settings, user))

    response = await accounts_http.patch(
        f"{API}/me", json={"name": "  Ada Lovelace ", "phone": "+1 (415) 555-2671"}, headers=headers
    )
    assert response.status_code == 200
    assert (response.json()["name"], response.json()["phone"]) == ("Ada Lovelace", "+14155552671")

    only_name = await accounts_http.patch(f"{API}/me", json={"name": "Ada"}, headers=headers)
    assert only_name.json()["phone"] == "+14155552671"  # left out means unchanged

    cleared = await accounts_http.patch(f"{API}/me", json={"phone": None}, headers=headers)
    assert cleared.status_code == 200
    stored = await fetch_user(accounts_db, user.id)
    assert (stored.name, stored.phone) == ("Ada", None)


async def test_patch_me_rejects_bad_input(accounts_http, accounts_db, accounts_settings):
    user = await make_user(accounts_db)
    headers = bearer(token_for(accounts_settings, user))
    for payload in (
        {"phone": "555-2671"},
        {"phone": "+999 123"},
        {"phone": "+" + "1" * 40},
        {"name": None},
        {"name": "x" * 121},
        {"name": "tab\there"},
        {"email": "other@example.test"},
        {"roles": ["admin"]},
    ):
        response = await accounts_http.patch(f"{API}/me", json=payload, headers=headers)
        assert response.status_code == 422, payload
    stored = await fetch_user(accounts_db, user.id)
    assert (stored.name, stored.phone, stored.roles) == ("Test Person", None, ["user"])


async def test_change_password_keeps_only_the_current_session(
    accounts_http, accounts_db, accounts_settings
):
    user = await make_user(accounts_db)
    current = await make_family(accounts_db, user.id)
    other = await make_family(accounts_db, user.id)
    headers = bearer(token_for(accounts_settings, user, sid=current))
    new_password = "a much better passphrase"

    response = await accounts_http.post(
        f"{API}/me/password",
        json={"current_password": PASSWORD, "new_password": new_password},
        headers=headers,
    )

    assert response.status_code == 204
    stored = await fetch_user(accounts_db, user.id)
    assert verify_password(stored.password_hash, new_password)
    assert stored.password_changed_at is not None
    async with accounts_db() as session:
        families = {
            f.id: f
            for f in (
                await session.execute(
                    select(RefreshTokenFamily).where(RefreshTokenFamily.user_id == user.id)
                )
            ).scalars()
        }
    assert families[current].revoked_at is None
    assert families[other].revoked_reason == "password_changed"
    assert [e.template for e in await emails_to(accounts_db, user.email)] == ["password_changed"]


async def test_wrong_current_password_is_recorded_and_throttled(
    accounts_http, accounts_db, accounts_settings
):
    user = await make_user(accounts_db)
    headers = bearer(token_for(accounts_settings, user))
    body = {"current_password": "wrong password!", "new_password": "another passphrase"}
    statuses = []
    for _ in range(accounts_settings.login_max_failures_per_account + 1):
        response = await accounts_http.post(f"{API}/me/password", json=body, headers=headers)
        statuses.append(response.status_code)
    assert statuses == [400] * accounts_settings.login_max_failures_per_account + [429]
    async with accounts_db() as session:
        failures = (
            (
                await session.execute(
                    select(LoginEvent).where(
                        LoginEvent.user_id == user.id, LoginEvent.kind == "password_change"
                    )
                )
            )
            .scalars()
            .all()
        )
    assert len(failures) == accounts_settings.login_max_failures_per_account
    assert all(not e.success and e.reason == "wrong_password" for e in failures)
    stored = await fetch_user(accounts_db, user.id)
    assert verify_password(stored.password_hash, PASSWORD)


async def test_change_password_validates_the_new_one(accounts_http, accounts_db, accounts_settings):
    user = await make_user(accounts_db)
    headers = bearer(token_for(accounts_settings, user))
    for body in (
        {"current_password": PASSWORD, "new_password": "short"},
        {"current_password": PASSWORD, "new_password": "y" * 129},
        {"current_password": "", "new_password": "long enough pass"},
        {"new_password": "long enough pass"},
    ):
        response = await accounts_http.post(f"{API}/me/password", json=body, headers=headers)
        assert response.status_code == 422, body


async def test_sessions_list_marks_current_and_revoked(
    accounts_http, accounts_db, accounts_settings
):
    user = await make_user(accounts_db)
    old = await make_family(accounts_db, user.id, revoked=True)
    current = await make_family(accounts_db, user.id, ip="2001:db8::1", user_agent="Firefox")
    stranger = await make_user(accounts_db)
    await make_family(accounts_db, stranger.id)

    response = await accounts_http.get(
        f"{API}/me/sessions", headers=bearer(token_for(accounts_settings, user, sid=current))
    )

    assert response.status_code == 200
    page = response.json()
    assert page["total"] == 2
    by_id = {s["id"]: s for s in page["items"]}
    assert by_id[str(current)]["current"] is True
    assert by_id[str(current)]["active"] is True
    assert (by_id[str(current)]["ip"], by_id[str(current)]["user_agent"]) == (
        "2001:db8::1",
        "Firefox",
    )
    assert by_id[str(old)]["current"] is False
    assert by_id[str(old)]["active"] is False
    assert page["items"][0]["id"] == str(current)  # newest first


async def test_revoke_session(accounts_http, accounts_db, accounts_settings):
    user = await make_user(accounts_db)
    mine = await make_family(accounts_db, user.id)
    stranger = await make_user(accounts_db)
    theirs = await make_family(accounts_db, stranger.id)
    headers = bearer(token_for(accounts_settings, user))

    assert (
        await accounts_http.delete(f"{API}/me/sessions/{theirs}", headers=headers)
    ).status_code == 404
    random_id = uuid.uuid4()
    assert (
        await accounts_http.delete(f"{API}/me/sessions/{random_id}", headers=headers)
    ).status_code == 404
    assert (
        await accounts_http.delete(f"{API}/me/sessions/nope", headers=headers)
    ).status_code == 422
    response = await accounts_http.delete(f"{API}/me/sessions/{mine}", headers=headers)
    assert response.status_code == 204
    again = await accounts_http.delete(f"{API}/me/sessions/{mine}", headers=headers)
    assert again.status_code == 204

    async with accounts_db() as session:
        revoked = await session.get(RefreshTokenFamily, mine)
        untouched = await session.get(RefreshTokenFamily, theirs)
    assert revoked.revoked_reason == "user_revoked"
    assert untouched.revoked_at is None


async def test_login_history_is_paginated_newest_first(
    accounts_http, accounts_db, accounts_settings
):
    user = await make_user(accounts_db)
    now = datetime.now(UTC)
    async with accounts_db() as session, session.begin():
        for i in range(3):
            session.add(
                LoginEvent(
                    user_id=user.id,
                    email=user.email,
                    kind="login",
                    ip=random_ip(),
                    user_agent=f"agent-{i}",
                    success=i != 1,
                    reason="bad_password" if i == 1 else None,
                    created_at=now - timedelta(minutes=10 - i),
                )
            )
        session.add(LoginEvent(user_id=None, email=unique_email(), kind="login", success=False))
    headers = bearer(token_for(accounts_settings, user))

    first = await accounts_http.get(f"{API}/me/login-history?size=2", headers=headers)
    second = await accounts_http.get(f"{API}/me/login-history?size=2&page=2", headers=headers)

    assert first.status_code == second.status_code == 200
    assert (first.json()["total"], first.json()["pages"]) == (3, 2)
    agents = [e["user_agent"] for e in first.json()["items"] + second.json()["items"]]
    assert agents == ["agent-2", "agent-1", "agent-0"]
    failed = first.json()["items"][1]
    assert (failed["success"], failed["reason"], failed["kind"]) == (False, "bad_password", "login")
    bad_sort = await accounts_http.get(f"{API}/me/login-history?sort=password", headers=headers)
    assert bad_sort.status_code == 422
    assert (
        await accounts_http.get(f"{API}/me/login-history?size=1000", headers=headers)
    ).status_code == 422
