"""Alert channels over the API: validation, secrets at rest, owners, the test button."""

import json
import uuid

import pytest
from alerts_testkit import *  # noqa: F403 - the fixtures
from alerts_testkit import API

from berth_common import signatures
from berth_monitoring.models import AlertChannel, Notification

BOT_TOKEN = "123456789:AAE-secret-part-of-the-bot-token-xyz_0123"


async def _create(http, who, **body):
    return await http.post(f"{API}/channels", json=body, headers=who.headers)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"kind": "email", "name": "me", "address": "not-an-address"}, "address"),
        ({"kind": "email", "name": "me", "address": "a@b"}, "address"),
        ({"kind": "webhook", "name": "hook", "url": "ftp://example.com/x"}, None),
        ({"kind": "webhook", "name": "hook", "url": "http://example.com/hook"}, None),
        ({"kind": "webhook", "name": "hook", "url": "https://10.0.0.5/hook"}, None),
        ({"kind": "webhook", "name": "hook", "url": "https://169.254.169.254/latest"}, None),
        ({"kind": "webhook", "name": "hook", "url": "https://127.0.0.1:8104/api"}, None),
        ({"kind": "webhook", "name": "hook", "url": "https://localhost/hook"}, None),
        ({"kind": "webhook", "name": "hook", "url": "https://user:pw@example.com/"}, None),
        ({"kind": "telegram", "name": "tg", "chat_id": "12345", "bot_token": "nope"}, "bot_token"),
        ({"kind": "telegram", "name": "tg", "chat_id": "x y", "bot_token": BOT_TOKEN}, "chat_id"),
        ({"kind": "sms", "name": "x", "target": "+1555"}, None),
        ({"kind": "email", "name": "", "address": "a@example.com"}, "name"),
        ({"kind": "email", "name": "me\x00", "address": "a@example.com"}, "name"),
    ],
)
async def test_bad_channels_are_refused_with_422(alerts_http, alerts_person, body, field):
    who = alerts_person()
    r = await _create(alerts_http, who, **body)
    assert r.status_code == 422, r.text
    assert r.json()["error"]["code"] == "validation_error"
    if field:
        assert any(field in d["loc"] for d in r.json()["error"]["details"]), r.text
    listed = await alerts_http.get(f"{API}/channels", headers=who.headers)
    assert listed.json()["total"] == 0


async def test_webhook_secret_is_shown_once_and_encrypted_at_rest(
    alerts_http, alerts_person, alerts_db, receiver
):
    who = alerts_person()
    r = await _create(alerts_http, who, kind="webhook", name="ops", url=f"{receiver.url}/hook")
    assert r.status_code == 201, r.text
    created = r.json()
    secret = created["signing_secret"]
    assert secret.startswith("whsec_") and len(secret) > 30
    assert created["secret"] == f"…{secret[-4:]}"

    for path in (f"{API}/channels/{created['id']}", f"{API}/channels"):
        again = await alerts_http.get(path, headers=who.headers)
        assert again.status_code == 200
        assert secret not in again.text and "signing_secret" not in again.text
    async with alerts_db() as session:
        row = await session.get(AlertChannel, uuid.UUID(created["id"]))
        assert row.secret_encrypted and secret not in row.secret_encrypted
        assert secret[6:] not in row.secret_encrypted

    rotated = await alerts_http.patch(
        f"{API}/channels/{created['id']}", json={"rotate_secret": True}, headers=who.headers
    )
    assert rotated.status_code == 200
    assert rotated.json()["signing_secret"] not in (None, secret)


async def test_telegram_token_is_never_returned(alerts_http, alerts_person, alerts_db):
    who = alerts_person()
    r = await _create(
        alerts_http, who, kind="telegram", name="tg", chat_id="-1001234567890", bot_token=BOT_TOKEN
    )
    assert r.status_code == 201, r.text
    assert BOT_TOKEN not in r.text and r.json()["secret"] == f"…{BOT_TOKEN[-4:]}"
    assert r.json()["target"] == "-1001234567890"
    async with alerts_db() as session:
        row = await session.get(AlertChannel, uuid.UUID(r.json()["id"]))
        assert BOT_TOKEN not in row.secret_encrypted and BOT_TOKEN.split(":")[1] not in row.target


async def test_update_refuses_fields_of_another_kind_and_private_urls(
    alerts_http, alerts_person, receiver
):
    who = alerts_person()
    email = (
        await _create(alerts_http, who, kind="email", name="me", address="a@example.com")
    ).json()
    r = await alerts_http.patch(
        f"{API}/channels/{email['id']}", json={"url": "https://example.com"}, headers=who.headers
    )
    assert r.status_code == 422 and "url" in r.json()["error"]["message"]
    hook = (await _create(alerts_http, who, kind="webhook", name="h", url=receiver.url)).json()
    r = await alerts_http.patch(
        f"{API}/channels/{hook['id']}", json={"url": "https://10.1.2.3/x"}, headers=who.headers
    )
    assert r.status_code == 422
    r = await alerts_http.patch(
        f"{API}/channels/{email['id']}",
        json={"address": "B@Example.com", "is_enabled": False},
        headers=who.headers,
    )
    assert r.status_code == 200
    assert r.json()["target"] == "b@example.com" and r.json()["is_enabled"] is False


async def test_another_user_sees_none_of_my_channels(alerts_http, alerts_person):
    a, b = alerts_person(), alerts_person()
    made = await _create(alerts_http, a, kind="email", name="a", address="a@example.com")
    channel = made.json()["id"]
    for method, path, body in [
        ("GET", f"{API}/channels/{channel}", None),
        ("PATCH", f"{API}/channels/{channel}", {"name": "mine"}),
        ("POST", f"{API}/channels/{channel}/test", None),
        ("GET", f"{API}/channels/{channel}/notifications", None),
        ("DELETE", f"{API}/channels/{channel}", None),
    ]:
        r = await alerts_http.request(method, path, json=body, headers=b.headers)
        assert r.status_code == 404, (method, path, r.text)
        assert r.json()["error"]["code"] == "not_found"
    assert (await alerts_http.get(f"{API}/channels", headers=b.headers)).json()["total"] == 0
    still = await alerts_http.get(f"{API}/channels/{channel}", headers=a.headers)
    assert still.status_code == 200 and still.json()["name"] == "a"
    anonymous = await alerts_http.get(f"{API}/channels")
    assert anonymous.status_code == 401


async def test_test_button_delivers_a_signed_webhook_and_is_rate_limited(
    alerts_http, alerts_person, alerts_db, receiver
):
    who = alerts_person()
    receiver.reset()
    made = await _create(alerts_http, who, kind="webhook", name="h", url=f"{receiver.url}/in")
    channel, secret = made.json()["id"], made.json()["signing_secret"]

    r = await alerts_http.post(f"{API}/channels/{channel}/test", headers=who.headers)
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "sent" and r.json()["error"] is None
    [got] = receiver.received
    assert got.path == "/in"
    # the receiver's check, as the README tells it: HMAC over "<t>.<body>" with the secret
    signatures.verify(
        secret.encode(), got.headers["berth-signature"], got.body, tolerance_seconds=300
    )
    with pytest.raises(signatures.SignatureMismatch):
        signatures.verify(
            b"whsec_other", got.headers["berth-signature"], got.body, tolerance_seconds=300
        )
    event = json.loads(got.body)
    assert got.headers["berth-event-id"] == event["id"] == r.json()["notification_id"]
    assert event["type"] == "channel.test" and "Test alert" in event["data"]["summary"]

    again = await alerts_http.post(f"{API}/channels/{channel}/test", headers=who.headers)
    assert again.status_code == 429, again.text
    assert again.json()["error"]["code"] == "rate_limited" and "Retry-After" in again.headers
    assert len(receiver.received) == 1
    shown = await alerts_http.get(f"{API}/channels/{channel}/notifications", headers=who.headers)
    assert [n["status"] for n in shown.json()] == ["sent"]


async def test_test_button_reports_a_refusing_receiver(
    alerts_http, alerts_person, alerts_db, receiver
):
    who = alerts_person()
    receiver.reset()
    receiver.answer(410)
    made = await _create(alerts_http, who, kind="webhook", name="h", url=receiver.url)
    r = await alerts_http.post(f"{API}/channels/{made.json()['id']}/test", headers=who.headers)
    assert r.status_code == 200
    assert r.json() | {"notification_id": None} == {
        "notification_id": None,
        "event": "test",
        "status": "failed",
        "error": "the receiver answered 410",
    }
    async with alerts_db() as session:
        row = await session.get(Notification, uuid.UUID(r.json()["notification_id"]))
        assert row.status == "failed" and row.attempts == 1


async def test_telegram_test_calls_the_bot_api_with_the_token_in_the_path(
    alerts_http, alerts_person, alerts_app, receiver
):
    who = alerts_person()
    receiver.reset()
    made = await _create(
        alerts_http, who, kind="telegram", name="tg", chat_id="-100777", bot_token=BOT_TOKEN
    )
    settings = alerts_app.state.settings
    saved = settings.telegram_api_url
    settings.telegram_api_url = f"{receiver.url}/tg-api"  # the operator's setting
    try:
        r = await alerts_http.post(f"{API}/channels/{made.json()['id']}/test", headers=who.headers)
    finally:
        settings.telegram_api_url = saved
    assert r.status_code == 200 and r.json()["status"] == "sent", r.text
    [got] = receiver.received
    assert got.path == f"/tg-api/bot{BOT_TOKEN}/sendMessage"
    sent = json.loads(got.body)
    assert sent["chat_id"] == "-100777" and sent["text"].startswith("Test alert from Berth to tg")


async def test_telegram_failure_keeps_the_token_out_of_the_error(
    alerts_http, alerts_person, alerts_app, alerts_db
):
    who = alerts_person()
    made = await _create(
        alerts_http, who, kind="telegram", name="tg", chat_id="-1", bot_token=BOT_TOKEN
    )
    settings = alerts_app.state.settings
    saved = settings.telegram_api_url
    settings.telegram_api_url = "http://127.0.0.2:9"  # nothing listens: a connection error
    try:
        r = await alerts_http.post(f"{API}/channels/{made.json()['id']}/test", headers=who.headers)
    finally:
        settings.telegram_api_url = saved
    assert r.json()["status"] == "failed"
    assert BOT_TOKEN not in r.text and BOT_TOKEN.split(":")[1] not in r.text
    rows = await alerts_http.get(
        f"{API}/channels/{made.json()['id']}/notifications", headers=who.headers
    )
    assert BOT_TOKEN.split(":")[1] not in rows.text


async def test_test_messages_have_an_hourly_budget_per_person(
    alerts_http, alerts_person, monkeypatch
):
    from berth_monitoring.alerts import service

    monkeypatch.setattr(service, "TESTS_PER_HOUR", 2)
    who = alerts_person()
    made = [
        (
            await _create(alerts_http, who, kind="email", name=f"e{i}", address=f"x{i}@example.com")
        ).json()["id"]
        for i in range(3)
    ]
    answers = [
        (await alerts_http.post(f"{API}/channels/{c}/test", headers=who.headers)).status_code
        for c in made
    ]
    assert answers == [200, 200, 429]
    other = alerts_person()  # someone else's budget is their own
    theirs = await _create(alerts_http, other, kind="email", name="o", address="o@example.com")
    r = await alerts_http.post(f"{API}/channels/{theirs.json()['id']}/test", headers=other.headers)
    assert r.status_code == 200


async def test_without_a_channel_key_channels_answer_503_not_500(
    berth_env, alerts_person, public_jwks
):
    from berth_monitoring.config import MonitoringSettings
    from berth_monitoring.main import create_app
    from berth_testing.plugin import app_client, trust_keys

    app = create_app(MonitoringSettings().model_copy(update={"channel_encryption_key": None}))
    async with app_client(app) as client:
        trust_keys(app, public_jwks)
        r = await client.get(f"{API}/channels", headers=alerts_person().headers)
    assert r.status_code == 503 and r.json()["error"]["code"] == "service_unavailable"
