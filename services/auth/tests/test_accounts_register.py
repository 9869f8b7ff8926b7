"""Sign-up, email verification and code resend through the public API."""

import json
from datetime import UTC, datetime, timedelta

from fixtures_accounts import (
    API,
    PASSWORD,
    emails_to,
    error_code,
    latest_code,
    make_user,
    random_ip,
)
from sqlalchemy import select, text, update

from berth_auth.models import LoginEvent, User, VerificationCode
from berth_testing.plugin import unique_email


async def register(http, email: str, **extra):
    return await http.post(f"{API}/register", json={"email": email, "password": PASSWORD, **extra})


async def test_register_creates_unverified_user_email_and_outbox_rows(accounts_http, accounts_db):
    email = unique_email("Sign.Up")
    response = await register(accounts_http, email.upper(), name="Ada", phone="+44 20 7946 0958")

    assert response.status_code == 201
    body = response.json()
    assert body["email"] == email.lower()
    assert body["email_verified"] is False
    async with accounts_db() as session:
        user = await session.get(User, body["id"])
        assert user.email == email.lower()
        assert user.phone == "+442079460958"
        assert user.roles == ["user"]
        assert user.password_hash.startswith("$argon2")
        codes = (
            (
                await session.execute(
                    select(VerificationCode).where(VerificationCode.user_id == user.id)
                )
            )
            .scalars()
            .all()
        )
        assert [c.purpose for c in codes] == ["verify_email"]
        outbox = (
            (await session.execute(text("SELECT headers, body FROM auth.outbox"))).mappings().all()
        )
    [queued] = await emails_to(accounts_db, email.lower())
    assert queued.template == "verify_email" and queued.status == "pending"
    assert codes[0].code_hash not in queued.body_text  # only the HMAC is stored
    tasks = [
        json.loads(row["body"])[1]
        for row in outbox
        if row["headers"].get("task") == "auth.mail.send"
    ]
    assert {"email_id": str(queued.id)} in tasks
    events = [
        json.loads(row["body"])[1]["event"]
        for row in outbox
        if row["headers"].get("task") == "berth.event"
    ]
    assert {"user_id": body["id"], "email": email.lower()} in [
        e["payload"] for e in events if e["key"] == "auth.user.registered"
    ]


async def test_register_duplicate_email_any_case_is_409(accounts_http):
    email = unique_email()
    assert (await register(accounts_http, email)).status_code == 201
    again = await register(accounts_http, email.upper())
    assert again.status_code == 409
    assert again.json() == {
        "error": {"code": "email_taken", "message": "email already registered", "details": None}
    }


async def test_register_rejects_malformed_input_with_422(accounts_http):
    ok = {"email": unique_email(), "password": PASSWORD}
    cases = [
        {**ok, "email": "not-an-email"},
        {**ok, "password": "short"},
        {**ok, "password": "x" * 129},
        {**ok, "phone": "12345"},
        {**ok, "phone": "+1 000 000 0000"},
        {**ok, "name": "bad\x00name"},
        {**ok, "name": "n" * 121},
        {**ok, "role": "admin"},
        {"email": ok["email"]},
    ]
    for payload in cases:
        response = await accounts_http.post(f"{API}/register", json=payload)
        assert response.status_code == 422, payload
        assert error_code(response) == "validation_error"
        assert PASSWORD not in response.text
    not_json = await accounts_http.post(
        f"{API}/register", content=b"{nope", headers={"content-type": "application/json"}
    )
    assert not_json.status_code == 422


async def test_verify_email_with_the_emailed_code(accounts_http, accounts_db):
    email = unique_email()
    user_id = (await register(accounts_http, email)).json()["id"]
    code = await latest_code(accounts_db, email, "verify_email")
    ip = random_ip()

    response = await accounts_http.post(
        f"{API}/verify-email",
        json={"email": email, "code": code},
        headers={"X-Forwarded-For": f"203.0.113.9, {ip}", "User-Agent": "ua-verify"},
    )

    assert response.status_code == 200
    assert response.json() == {"id": user_id, "email": email, "email_verified": True}
    async with accounts_db() as session:
        user = await session.get(User, user_id)
        assert user.email_verified_at is not None
        event = (
            await session.execute(select(LoginEvent).where(LoginEvent.user_id == user.id))
        ).scalar_one()
        assert (str(event.ip), event.user_agent, event.kind, event.success) == (
            ip,
            "ua-verify",
            "verify_email",
            True,
        )
    reused = await accounts_http.post(f"{API}/verify-email", json={"email": email, "code": code})
    assert reused.status_code == 400


async def test_wrong_codes_are_counted_and_kill_the_code(
    accounts_http, accounts_db, accounts_settings
):
    email = unique_email()
    user_id = (await register(accounts_http, email)).json()["id"]
    code = await latest_code(accounts_db, email, "verify_email")
    wrong = f"{(int(code) + 1) % 1_000_000:06d}"
    headers = {"X-Forwarded-For": random_ip()}

    bodies = []
    for _ in range(accounts_settings.code_max_attempts):
        response = await accounts_http.post(
            f"{API}/verify-email", json={"email": email, "code": wrong}, headers=headers
        )
        assert response.status_code == 400
        bodies.append(response.json())
    assert all(b["error"]["code"] == "invalid_code" for b in bodies)
    async with accounts_db() as session:
        row = (
            await session.execute(
                select(VerificationCode).where(VerificationCode.user_id == user_id)
            )
        ).scalar_one()
        assert row.attempts == accounts_settings.code_max_attempts  # persisted despite the 400s

    dead = await accounts_http.post(
        f"{API}/verify-email", json={"email": email, "code": code}, headers=headers
    )
    assert dead.status_code == 400
    assert error_code(dead) == "code_exhausted"
    async with accounts_db() as session:
        user = await session.get(User, user_id)
        assert user.email_verified_at is None


async def test_unknown_email_and_wrong_code_answer_alike(accounts_http):
    email = unique_email()
    await register(accounts_http, email)
    headers = {"X-Forwarded-For": random_ip()}
    unknown = await accounts_http.post(
        f"{API}/verify-email", json={"email": unique_email(), "code": "000000"}, headers=headers
    )
    wrong = await accounts_http.post(
        f"{API}/verify-email", json={"email": email, "code": "000000"}, headers=headers
    )
    # (a one-in-a-million chance that 000000 is the real code is accepted)
    assert unknown.status_code == wrong.status_code == 400
    assert unknown.json() == wrong.json()


async def test_expired_code_is_refused(accounts_http, accounts_db):
    email = unique_email()
    user_id = (await register(accounts_http, email)).json()["id"]
    code = await latest_code(accounts_db, email, "verify_email")
    async with accounts_db() as session, session.begin():
        await session.execute(
            update(VerificationCode)
            .where(VerificationCode.user_id == user_id)
            .values(expires_at=datetime.now(UTC) - timedelta(seconds=1))
        )
    response = await accounts_http.post(
        f"{API}/verify-email",
        json={"email": email, "code": code},
        headers={"X-Forwarded-For": random_ip()},
    )
    assert response.status_code == 400
    assert error_code(response) == "code_expired"


async def test_failures_from_one_ip_are_rate_limited(accounts_http, accounts_settings):
    email = unique_email()
    await register(accounts_http, email)
    headers = {"X-Forwarded-For": random_ip()}
    limit = accounts_settings.login_max_failures_per_ip
    accounts_settings.login_max_failures_per_ip = 3
    try:
        statuses = []
        for _ in range(4):
            response = await accounts_http.post(
                f"{API}/verify-email",
                json={"email": unique_email(), "code": "123456"},
                headers=headers,
            )
            statuses.append(response.status_code)
        assert statuses == [400, 400, 400, 429]
        assert int(response.headers["Retry-After"]) > 0
        other_ip = await accounts_http.post(
            f"{API}/verify-email",
            json={"email": unique_email(), "code": "123456"},
            headers={"X-Forwarded-For": random_ip()},
        )
        assert other_ip.status_code == 400
    finally:
        accounts_settings.login_max_failures_per_ip = limit


async def test_verify_email_rejects_malformed_input(accounts_http):
    for payload in (
        {"email": unique_email(), "code": "12345"},
        {"email": unique_email(), "code": "abcdef"},
        {"email": "x", "code": "123456"},
        {"email": unique_email(), "code": "123456", "extra": 1},
        {},
    ):
        response = await accounts_http.post(f"{API}/verify-email", json=payload)
        assert response.status_code == 422, payload


async def test_resend_is_throttled_then_replaces_the_old_code(accounts_http, accounts_db):
    email = unique_email()
    user_id = (await register(accounts_http, email)).json()["id"]
    first_code = await latest_code(accounts_db, email, "verify_email")

    too_soon = await accounts_http.post(f"{API}/resend-code", json={"email": email})
    assert too_soon.status_code == 202
    assert len(await emails_to(accounts_db, email)) == 1  # throttled quietly

    async with accounts_db() as session, session.begin():
        await session.execute(
            update(VerificationCode)
            .where(VerificationCode.user_id == user_id)
            .values(created_at=datetime.now(UTC) - timedelta(minutes=5))
        )
    later = await accounts_http.post(f"{API}/resend-code", json={"email": email})
    assert later.status_code == 202
    assert len(await emails_to(accounts_db, email)) == 2
    new_code = await latest_code(accounts_db, email, "verify_email")

    headers = {"X-Forwarded-For": random_ip()}
    if new_code != first_code:
        old = await accounts_http.post(
            f"{API}/verify-email", json={"email": email, "code": first_code}, headers=headers
        )
        assert old.status_code == 400
    ok = await accounts_http.post(
        f"{API}/verify-email", json={"email": email, "code": new_code}, headers=headers
    )
    assert ok.status_code == 200


async def test_resend_does_not_reveal_unknown_or_verified_accounts(accounts_http, accounts_db):
    unknown = unique_email()
    response = await accounts_http.post(f"{API}/resend-code", json={"email": unknown})
    assert response.status_code == 202
    assert response.json() == {"status": "accepted"}
    assert await emails_to(accounts_db, unknown) == []

    verified = await make_user(accounts_db, verified=True)
    response = await accounts_http.post(f"{API}/resend-code", json={"email": verified.email})
    assert response.status_code == 202
    assert await emails_to(accounts_db, verified.email) == []

    bad = await accounts_http.post(
        f"{API}/resend-code", json={"email": unknown, "purpose": "login"}
    )
    assert bad.status_code == 422
