"""notify() and the delivery task: one notification per transition per channel, signed
webhooks, retries on 5xx, permanent failure on 4xx, email through the SMTP sink."""

import json
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from alerts_testkit import *  # noqa: F403 - the fixtures
from alerts_testkit import API, add_incident, add_monitor
from sqlalchemy import func, select

from berth_common import signatures
from berth_common.errors import TransientError
from berth_monitoring import mail
from berth_monitoring.alerts import delivery, service
from berth_monitoring.models import (
    Base,
    IncidentEvent,
    MonitorChannel,
    Notification,
    OutgoingEmail,
)
from berth_testing.smtp import start_sink


@pytest.fixture(scope="module")
def senders(alerts_settings):
    return delivery.Senders(alerts_settings)


async def _channel(http, who, **body):
    r = await http.post(f"{API}/channels", json=body, headers=who.headers)
    assert r.status_code == 201, r.text
    return r.json()


async def _link(db, monitor, *channel_ids):
    async with db() as session:
        for channel_id in channel_ids:
            session.add(MonitorChannel(monitor_id=monitor.id, channel_id=uuid.UUID(channel_id)))
        await session.commit()


async def _notify(db, monitor, incident, event, detail="HTTP 503 from the target", **kw):
    async with db() as session:
        ids = await service.notify(session, monitor, incident, event, detail, **kw)
        await session.commit()
        return ids


async def _deliver(db, senders, notification_id):
    async with db() as session:
        outcome = await delivery.deliver(session, senders, notification_id)
        await session.commit()
        return outcome


async def _row(db, notification_id) -> Notification:
    async with db() as session:
        return await session.get(Notification, notification_id)


async def test_one_notification_per_transition_and_channel(
    alerts_http, alerts_person, alerts_db, receiver
):
    who = alerts_person()
    hook = await _channel(alerts_http, who, kind="webhook", name="h", url=receiver.url)
    email = await _channel(alerts_http, who, kind="email", name="e", address="oncall@example.com")
    off = await _channel(alerts_http, who, kind="email", name="off", address="off@example.com")
    await alerts_http.patch(
        f"{API}/channels/{off['id']}", json={"is_enabled": False}, headers=who.headers
    )
    monitor = await add_monitor(alerts_db, who.id, name="shop")
    other = await add_monitor(alerts_db, who.id)
    await _link(alerts_db, monitor, hook["id"], email["id"], off["id"])
    incident = await add_incident(alerts_db, monitor)

    first = await _notify(alerts_db, monitor, incident, "down")
    assert len(first) == 2  # the disabled channel owes nothing
    # the checker running the same transition again (a retried batch) owes nothing more
    assert await _notify(alerts_db, monitor, incident, "down") == []
    assert await _notify(alerts_db, other, incident, "down") == []  # no channels linked
    assert len(await _notify(alerts_db, monitor, incident, "reminder", slot=1)) == 2
    assert await _notify(alerts_db, monitor, incident, "reminder", slot=1) == []
    assert len(await _notify(alerts_db, monitor, incident, "recovered")) == 2

    async with alerts_db() as session:
        rows = (
            (
                await session.execute(
                    select(Notification).where(Notification.subject_id == monitor.id)
                )
            )
            .scalars()
            .all()
        )
        table = Base.metadata.tables["monitoring.outbox"]
        queued = select(func.count()).select_from(table)
        outbox = (
            await session.execute(queued.where(table.c.body.contains(str(rows[0].id))))
        ).scalar_one()
    assert sorted(r.event for r in rows) == [
        "down",
        "down",
        "recovered",
        "recovered",
        "reminder",
        "reminder",
    ]
    down = next(r for r in rows if r.event == "down")
    assert down.payload["summary"] == "shop is DOWN"
    assert down.payload["detail"] == "HTTP 503 from the target"
    assert down.payload["incident"]["id"] == str(incident.id)
    assert down.payload["url"].endswith(f"/monitoring/monitors/{monitor.id}")
    assert outbox == 1  # its delivery task was queued through the outbox, once


async def test_webhook_retries_a_500_then_sends_once(
    alerts_http, alerts_person, alerts_db, receiver, senders
):
    who = alerts_person()
    receiver.reset()
    hook = await _channel(alerts_http, who, kind="webhook", name="h", url=f"{receiver.url}/w")
    monitor = await add_monitor(alerts_db, who.id, name="api")
    await _link(alerts_db, monitor, hook["id"])
    incident = await add_incident(alerts_db, monitor)
    [notification_id] = await _notify(alerts_db, monitor, incident, "down")

    receiver.answer(500)
    outcome = await _deliver(alerts_db, senders, notification_id)
    assert outcome.retry and outcome.error == "the receiver answered 500"
    row = await _row(alerts_db, notification_id)
    assert (row.status, row.attempts, row.last_error) == ("pending", 1, outcome.error)

    assert (await _deliver(alerts_db, senders, notification_id)).status == "sent"
    # the same task delivered again (a redelivered message): nothing is sent twice
    assert (await _deliver(alerts_db, senders, notification_id)).status == "sent"
    assert len(receiver.received) == 2
    last = receiver.received[-1]
    signatures.verify(
        hook["signing_secret"].encode(),
        last.headers["berth-signature"],
        last.body,
        tolerance_seconds=60,
    )
    body = json.loads(last.body)
    assert body["type"] == "monitor.down" and body["data"]["summary"] == "api is DOWN"
    assert last.headers["berth-event-id"] == str(notification_id)
    row = await _row(alerts_db, notification_id)
    assert (row.status, row.attempts, row.last_error) == ("sent", 2, None)
    async with alerts_db() as session:
        events = (
            (
                await session.execute(
                    select(IncidentEvent).where(IncidentEvent.incident_id == incident.id)
                )
            )
            .scalars()
            .all()
        )
    assert [e.kind for e in events] == ["alert_sent"]


async def test_the_task_raises_to_retry_and_records_the_attempt(
    alerts_http, alerts_person, alerts_db, receiver
):
    from berth_monitoring import tasks

    who = alerts_person()
    receiver.reset()
    hook = await _channel(alerts_http, who, kind="webhook", name="h", url=receiver.url)
    monitor = await add_monitor(alerts_db, who.id)
    await _link(alerts_db, monitor, hook["id"])
    incident = await add_incident(alerts_db, monitor)
    [notification_id] = await _notify(alerts_db, monitor, incident, "down")
    receiver.answer(503)
    with pytest.raises(TransientError, match="answered 503"):
        await tasks.deliver_notification(str(notification_id))
    assert (await _row(alerts_db, notification_id)).attempts == 1  # kept despite the raise
    await tasks.deliver_notification(str(notification_id))
    await tasks.deliver_notification(str(notification_id))
    assert len(receiver.received) == 2
    assert (await _row(alerts_db, notification_id)).status == "sent"


async def test_a_4xx_is_permanent_and_in_the_timeline(
    alerts_http, alerts_person, alerts_db, receiver, senders
):
    who = alerts_person()
    receiver.reset()
    hook = await _channel(alerts_http, who, kind="webhook", name="h", url=receiver.url)
    monitor = await add_monitor(alerts_db, who.id)
    await _link(alerts_db, monitor, hook["id"])
    incident = await add_incident(alerts_db, monitor)
    [notification_id] = await _notify(alerts_db, monitor, incident, "down")
    receiver.answer(404)
    outcome = await _deliver(alerts_db, senders, notification_id)
    assert (outcome.status, outcome.error) == ("failed", "the receiver answered 404")
    assert (await _deliver(alerts_db, senders, notification_id)).status == "failed"
    assert len(receiver.received) == 1
    async with alerts_db() as session:
        [event] = (
            (
                await session.execute(
                    select(IncidentEvent).where(IncidentEvent.incident_id == incident.id)
                )
            )
            .scalars()
            .all()
        )
    assert event.kind == "alert_failed" and "answered 404" in event.detail


async def test_429_retries_and_attempts_run_out(
    alerts_http, alerts_person, alerts_db, receiver, senders
):
    who = alerts_person()
    receiver.reset()
    hook = await _channel(alerts_http, who, kind="webhook", name="h", url=receiver.url)
    monitor = await add_monitor(alerts_db, who.id)
    await _link(alerts_db, monitor, hook["id"])
    incident = await add_incident(alerts_db, monitor)
    [notification_id] = await _notify(alerts_db, monitor, incident, "down")
    receiver.answer(*([429] * delivery.MAX_ATTEMPTS))
    outcomes = [
        await _deliver(alerts_db, senders, notification_id) for _ in range(delivery.MAX_ATTEMPTS)
    ]
    assert all(o.retry for o in outcomes[:-1])
    assert outcomes[-1].status == "failed"
    row = await _row(alerts_db, notification_id)
    assert (row.status, row.attempts) == ("failed", delivery.MAX_ATTEMPTS)


async def test_a_webhook_host_that_turned_private_is_refused_at_delivery(
    alerts_http, alerts_person, alerts_db, receiver, alerts_settings
):
    """The URL was judged at creation; delivery judges the address again before connecting."""
    from berth_monitoring.targets import TargetPolicy

    who = alerts_person()
    receiver.reset()
    hook = await _channel(alerts_http, who, kind="webhook", name="h", url=receiver.url)
    monitor = await add_monitor(alerts_db, who.id)
    await _link(alerts_db, monitor, hook["id"])
    incident = await add_incident(alerts_db, monitor)
    [notification_id] = await _notify(alerts_db, monitor, incident, "down")
    closed = delivery.Senders(alerts_settings, TargetPolicy())  # no network opened
    outcome = await _deliver(alerts_db, closed, notification_id)
    assert outcome.status == "failed" and "not a public address" in outcome.error
    assert receiver.received == []


async def test_email_alert_lands_in_the_smtp_sink(
    alerts_http, alerts_person, alerts_db, senders, alerts_settings
):
    who = alerts_person()
    email = await _channel(alerts_http, who, kind="email", name="e", address="pager@example.com")
    monitor = await add_monitor(alerts_db, who.id, name="checkout")
    await _link(alerts_db, monitor, email["id"])
    incident = await add_incident(alerts_db, monitor)
    [notification_id] = await _notify(alerts_db, monitor, incident, "down", "timeout after 10 s")
    assert (await _deliver(alerts_db, senders, notification_id)).status == "sent"
    assert (await _deliver(alerts_db, senders, notification_id)).status == "sent"
    async with alerts_db() as session:
        [queued] = (
            (
                await session.execute(
                    select(OutgoingEmail).where(OutgoingEmail.notification_id == notification_id)
                )
            )
            .scalars()
            .all()
        )
    sink, controller = start_sink(alerts_settings.smtp_port)
    try:
        async with alerts_db() as session:
            await mail.send_outgoing_email(session, alerts_settings, queued.id)
            await session.commit()
    finally:
        controller.stop()
    [message] = sink.to("pager@example.com")
    assert message["Subject"] == "[down] checkout is DOWN"
    text = message.get_payload(decode=True).decode()
    assert "timeout after 10 s" in text and f"/monitoring/monitors/{monitor.id}" in text


async def test_notify_queue_reaches_only_the_engineers_own_channels(
    alerts_http, alerts_person, alerts_db
):
    engineer, stranger = alerts_person(), alerts_person()
    mine = await _channel(alerts_http, engineer, kind="email", name="m", address="e@example.com")
    theirs = await _channel(alerts_http, stranger, kind="email", name="t", address="s@example.com")
    ids = [uuid.UUID(mine["id"]), uuid.UUID(theirs["id"])]
    async with alerts_db() as session:
        kw = dict(
            owner_id=engineer.id,
            channel_ids=ids,
            subject_id=None,
            event="queue_breach",
            episode_key=f"billing:oldest_age:{uuid.uuid4()}",
            summary="Queue billing: the oldest waiting message is older than 60 s",
        )
        first = await service.notify_queue(session, **kw)
        again = await service.notify_queue(session, **kw)
        await session.commit()
    assert len(first) == 1 and again == []
    row = await _row(alerts_db, first[0])
    assert row.channel_id == ids[0] and row.subject_kind == "queue"
    assert row.payload["url"].endswith("/ops/queues")


async def test_reminders_are_once_per_resend_period(alerts_http, alerts_person, alerts_db):
    who = alerts_person()
    email = await _channel(alerts_http, who, kind="email", name="e", address="r@example.com")
    down_since = datetime.now(UTC) - timedelta(minutes=25)
    monitor = await add_monitor(
        alerts_db, who.id, resend_minutes=10, state="down", state_changed_at=down_since
    )
    await _link(alerts_db, monitor, email["id"])
    incident = await add_incident(alerts_db, monitor)
    assert service.reminder_slot(monitor, datetime.now(UTC)) == 2
    assert service.reminder_slot(monitor, down_since + timedelta(minutes=9)) == 0
    first = await _notify(alerts_db, monitor, incident, "reminder")
    assert len(first) == 1
    assert await _notify(alerts_db, monitor, incident, "reminder") == []  # same period
    row = await _row(alerts_db, first[0])
    assert row.dedupe_key == f"reminder:{monitor.id}:{incident.id}:2:{email['id']}"
    assert row.payload["summary"].endswith("is still DOWN")
