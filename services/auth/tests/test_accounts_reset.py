"""Password reset by emailed code."""

from datetime import UTC, datetime, timedelta

from fixtures_accounts import (
    API,
    PASSWORD,
    emails_to,
    error_code,
    fetch_user,
    latest_code,
    make_family,
    make_user,
    random_ip,
)
from sqlalchemy import select, update

from berth_auth.models import RefreshTokenFamily, VerificationCode
from berth_auth.passwords import verify_password
from berth_testing.plugin import unique_email

NEW_PASSWORD = "brand new passphrase"


async def test_request_is_always_202_and_mails_only_real_accounts(accounts_http, accounts_db):
    user = await make_user(accounts_db)
    blocked = await make_user(accounts_db, blocked=True)
    nobody = unique_email()
    for email in (user.email, blocked.email, nobody):
        response = await accounts_http.post(f"{API}/password-reset/request", json={"email": email})
        assert response.status_code == 202
        assert response.json() == {"status": "accepted"}
    assert [e.template for e in await emails_to(accounts_db, user.email)] == ["password_reset"]
    assert await emails_to(accounts_db, blocked.email) == []
    assert await emails_to(accounts_db, nobody) == []


async def test_reset_sets_password_revokes_all_sessions_and_notifies(accounts_http, accounts_db):
    user = await make_user(accounts_db, verified=False)
    families = [await make_family(accounts_db, user.id) for _ in range(2)]
    await accounts_http.post(f"{API}/password-reset/request", json={"email": user.email})
    code = await latest_code(accounts_db, user.email, "password_reset")
    headers = {"X-Forwarded-For": random_ip()}

    response = await accounts_http.post(
        f"{API}/password-reset/confirm",
        json={"email": user.email, "code": code, "new_password": NEW_PASSWORD},
        headers=headers,
    )

    assert response.status_code == 204
    assert response.content == b""
    stored = await fetch_user(accounts_db, user.id)
    assert verify_password(stored.password_hash, NEW_PASSWORD)
    assert not verify_password(stored.password_hash, PASSWORD)
    assert stored.email_verified_at is not None  # the code proved the mailbox
    async with accounts_db() as session:
        rows = (
            (
                await session.execute(
                    select(RefreshTokenFamily).where(RefreshTokenFamily.id.in_(families))
                )
            )
            .scalars()
            .all()
        )
    assert [r.revoked_reason for r in rows] == ["password_reset", "password_reset"]
    templates = [e.template for e in await emails_to(accounts_db, user.email)]
    assert templates == ["password_changed", "password_reset"]

    replay = await accounts_http.post(
        f"{API}/password-reset/confirm",
        json={"email": user.email, "code": code, "new_password": "yet another one!"},
        headers=headers,
    )
    assert replay.status_code == 400
    assert verify_password((await fetch_user(accounts_db, user.id)).password_hash, NEW_PASSWORD)


async def test_reset_code_attempts_are_limited(accounts_http, accounts_db, accounts_settings):
    user = await make_user(accounts_db)
    await accounts_http.post(f"{API}/password-reset/request", json={"email": user.email})
    code = await latest_code(accounts_db, user.email, "password_reset")
    wrong = f"{(int(code) + 7) % 1_000_000:06d}"
    headers = {"X-Forwarded-For": random_ip()}
    body = {"email": user.email, "new_password": NEW_PASSWORD}

    for _ in range(accounts_settings.code_max_attempts):
        response = await accounts_http.post(
            f"{API}/password-reset/confirm", json={**body, "code": wrong}, headers=headers
        )
        assert error_code(response) == "invalid_code"
    response = await accounts_http.post(
        f"{API}/password-reset/confirm", json={**body, "code": code}, headers=headers
    )
    assert response.status_code == 400
    assert error_code(response) == "code_exhausted"
    assert verify_password((await fetch_user(accounts_db, user.id)).password_hash, PASSWORD)


async def test_expired_reset_code_is_refused(accounts_http, accounts_db):
    user = await make_user(accounts_db)
    await accounts_http.post(f"{API}/password-reset/request", json={"email": user.email})
    code = await latest_code(accounts_db, user.email, "password_reset")
    async with accounts_db() as session, session.begin():
        await session.execute(
            update(VerificationCode)
            .where(VerificationCode.user_id == user.id)
            .values(expires_at=datetime.now(UTC) - timedelta(minutes=1))
        )
    response = await accounts_http.post(
        f"{API}/password-reset/confirm",
        json={"email": user.email, "code": code, "new_password": NEW_PASSWORD},
        headers={"X-Forwarded-For": random_ip()},
    )
    assert response.status_code == 400
    assert error_code(response) == "code_expired"


async def test_verification_code_cannot_reset_a_password(accounts_http, accounts_db):
    email = unique_email()
    await accounts_http.post(f"{API}/register", json={"email": email, "password": PASSWORD})
    code = await latest_code(accounts_db, email, "verify_email")
    response = await accounts_http.post(
        f"{API}/password-reset/confirm",
        json={"email": email, "code": code, "new_password": NEW_PASSWORD},
        headers={"X-Forwarded-For": random_ip()},
    )
    assert response.status_code == 400


async def test_confirm_rejects_malformed_input(accounts_http):
    ok = {"email": unique_email(), "code": "123456", "new_password": NEW_PASSWORD}
    for payload in (
        {**ok, "new_password": "short"},
        {**ok, "code": "1234567"},
        {**ok, "email": "@@"},
        {**ok, "extra": True},
        {"email": ok["email"]},
    ):
        response = await accounts_http.post(f"{API}/password-reset/confirm", json=payload)
        assert response.status_code == 422, payload
    raw = await accounts_http.post(
        f"{API}/password-reset/request",
        content=b"email=a@b.c",
        headers={"content-type": "application/x-www-form-urlencoded"},
    )
    assert raw.status_code == 422
