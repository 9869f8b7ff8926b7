"""An alert owed by a transition reaches its webhook through the real monitoring worker: not
lost while the worker is stopped, retried after the receiver's 500, sent once, signed, and
written to the incident's timeline. The transition is made the way the checker makes it
(`alerts.service.notify` in the transaction of the change), against the platform's database
and broker."""

import json
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from berth_common import signatures
from berth_common.worker import WorkerRuntime
from berth_monitoring.alerts import service
from berth_monitoring.config import MonitoringSettings
from berth_monitoring.models import (
    SCHEMA,
    Base,
    Incident,
    IncidentEvent,
    IncidentMonitor,
    Monitor,
    MonitorChannel,
    Notification,
)

pytestmark = pytest.mark.timeout(180)


@pytest.fixture
def receiver() -> Iterator[dict[str, Any]]:
    got: list[tuple[dict[str, str], bytes]] = []
    statuses: list[int] = [500]

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            got.append(({k.lower(): v for k, v in self.headers.items()}, body))
            self.send_response(statuses.pop(0) if statuses else 200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.2", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield {"url": f"http://127.0.0.2:{server.server_address[1]}/alerts", "got": got}
    server.shutdown()
    server.server_close()


def _runtime(platform) -> WorkerRuntime:
    settings = MonitoringSettings(
        DATABASE_URL=platform.env["DATABASE_URL"],
        BROKER_URL=platform.credentials["monitoring"]["BROKER_URL"],
    )
    return WorkerRuntime(settings, SCHEMA, Base.metadata)


async def _down(session, owner_id: uuid.UUID, channel_id: uuid.UUID) -> uuid.UUID:
    monitor = Monitor(
        owner_id=owner_id,
        name="shop",
        kind="http",
        url="https://shop.example.com/health",
        interval_seconds=60,
        timeout_seconds=10,
        failure_threshold=3,
        success_threshold=2,
        # far ahead: the platform's checker leaves this row alone
        next_check_at=datetime(2100, 1, 1, tzinfo=UTC),
        state="down",
    )
    session.add(monitor)
    await session.flush()
    session.add(MonitorChannel(monitor_id=monitor.id, channel_id=channel_id))
    incident = Incident(owner_id=owner_id, group_key=f"monitor:{monitor.id}", title="shop is down")
    session.add(incident)
    await session.flush()
    session.add(IncidentMonitor(incident_id=incident.id, monitor_id=monitor.id))
    [notification_id] = await service.notify(
        session, monitor, incident, "down", "HTTP 503 three times"
    )
    return notification_id


async def _state(session, notification_id: uuid.UUID):
    row = await session.get(Notification, notification_id)
    events = (
        await session.execute(
            select(IncidentEvent.kind).where(IncidentEvent.incident_id == row.incident_id)
        )
    ).scalars()
    return row.status, row.attempts, list(events)


def _wait(check, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and not check():
        time.sleep(0.2)


def test_an_alert_survives_a_stopped_worker_and_a_500_and_is_sent_once(
    platform, signed_in, receiver
):
    who = signed_in()
    with httpx.Client(base_url=platform.public_url, timeout=20) as edge:
        r = edge.post(
            "/api/monitoring/v1/channels",
            json={"kind": "webhook", "name": "ops", "url": receiver["url"]},
            headers=who.headers,
        )
        assert r.status_code == 201, r.text
    channel = r.json()
    runtime = _runtime(platform)

    platform.processes.pop("monitoring-worker").stop()
    try:
        # the checker's transaction: the change and the alert it owes, committed together
        notification_id = runtime.run(
            _down, owner_id=uuid.UUID(who.id), channel_id=uuid.UUID(channel["id"])
        )
        time.sleep(2)
        assert receiver["got"] == []  # queued, nobody to deliver it
    finally:
        platform.start_worker("monitoring", concurrency=2)

    _wait(lambda: len(receiver["got"]) >= 2, 60)  # the 500, then the retry
    time.sleep(3)  # would a third follow?
    assert len(receiver["got"]) == 2
    (first_headers, first_body), (headers, body) = receiver["got"]
    assert first_headers["berth-event-id"] == headers["berth-event-id"] == str(notification_id)
    assert first_body == body
    signatures.verify(
        channel["signing_secret"].encode(),
        headers["berth-signature"],
        body,
        tolerance_seconds=300,
    )
    event = json.loads(body)
    assert event["type"] == "monitor.down"
    assert event["data"]["summary"] == "shop is DOWN"
    assert event["data"]["detail"] == "HTTP 503 three times"
    try:
        status, attempts, timeline = runtime.run(_state, notification_id=notification_id)
    finally:
        runtime.loop.run_until_complete(runtime.relay.publisher.close())
        runtime.loop.run_until_complete(runtime.db.dispose())
    assert (status, attempts, timeline) == ("sent", 2, ["alert_sent"])
