"""The checker against a real target on 127.0.0.2 and the real database: what a user sees is
the monitor's state, its incidents and the alerts queued for its channels."""

import json
import uuid
from datetime import UTC, datetime, timedelta

from fixtures_checks import Reply
from sqlalchemy import func, select, text

from berth_monitoring.enums import ErrorKind, MonitorKind, MonitorState, Suppression
from berth_monitoring.models import Incident, IncidentEvent, MaintenanceWindow, Notification
from berth_monitoring.names import Event, Task
from berth_monitoring.results.service import recent_failures


async def _notifications(checker, monitor_id: uuid.UUID) -> list[str]:
    async with checker.db.sessionmaker() as session:
        rows = await session.execute(
            select(Notification.event)
            .where(Notification.subject_id == monitor_id)
            .order_by(Notification.created_at)
        )
        return list(rows.scalars())


async def _notification_ids(checker, monitor_id: uuid.UUID) -> list[uuid.UUID]:
    async with checker.db.sessionmaker() as session:
        rows = await session.execute(
            select(Notification.id).where(Notification.subject_id == monitor_id)
        )
        return list(rows.scalars())


async def _incidents(checker) -> list[Incident]:
    async with checker.db.sessionmaker() as session:
        rows = await session.execute(
            select(Incident)
            .where(Incident.owner_id == checker.owner_id)
            .order_by(Incident.opened_at)
        )
        return list(rows.scalars())


async def _outbox_count(checker, routing_key: str, needle: str) -> int:
    async with checker.db.sessionmaker() as session:
        return (
            await session.execute(
                text(
                    "SELECT count(*) FROM monitoring.outbox WHERE body LIKE :needle "
                    "AND (routing_key = :key OR headers->>'task' = :key)"
                ),
                {"key": routing_key, "needle": f"%{needle}%"},
            )
        ).scalar_one()


async def test_one_failure_then_back_pages_nobody_and_an_outage_pages_once_each_way(
    checker, target_server
):
    path = f"/flaky-{uuid.uuid4().hex[:6]}"
    target_server.replies[path] = Reply(500, b"boom")
    monitor_id = await checker.monitor(url=target_server.url(path))
    await checker.channel(monitor_id)

    await checker.tick(monitor_id)
    assert (await checker.get(monitor_id)).state == MonitorState.PENDING
    target_server.replies[path] = Reply(200, b"fine")
    await checker.tick(monitor_id)
    monitor = await checker.get(monitor_id)
    assert monitor.state == MonitorState.UP
    assert await _notifications(checker, monitor_id) == []
    assert await _incidents(checker) == []

    target_server.replies[path] = Reply(503, b"down")
    for _ in range(5):
        await checker.tick(monitor_id)
    monitor = await checker.get(monitor_id)
    assert monitor.state == MonitorState.DOWN
    assert monitor.last_error_kind == ErrorKind.STATUS
    assert await _notifications(checker, monitor_id) == ["down"]
    [incident] = await _incidents(checker)
    assert incident.status == "open" and incident.group_key == "host:127.0.0.2"
    assert monitor.open_incident_id == incident.id
    assert await _outbox_count(checker, Event.INCIDENT_OPENED, str(incident.id)) == 1
    [notification_id] = await _notification_ids(checker, monitor_id)
    assert await _outbox_count(checker, Task.DELIVER_NOTIFICATION, str(notification_id)) == 1

    target_server.replies[path] = Reply(200, b"fine")
    await checker.tick(monitor_id)
    assert (await checker.get(monitor_id)).state == MonitorState.RECOVERING
    await checker.tick(monitor_id)
    await checker.tick(monitor_id)
    monitor = await checker.get(monitor_id)
    assert monitor.state == MonitorState.UP and monitor.open_incident_id is None
    assert await _notifications(checker, monitor_id) == ["down", "recovered"]
    [incident] = await _incidents(checker)
    assert incident.status == "resolved" and incident.resolved_at is not None
    assert await _outbox_count(checker, Event.INCIDENT_RESOLVED, str(incident.id)) == 1
    async with checker.db.sessionmaker() as session:
        kinds = (
            await session.execute(
                select(IncidentEvent.kind)
                .where(IncidentEvent.incident_id == incident.id)
                .order_by(IncidentEvent.id)
            )
        ).scalars()
        assert list(kinds) == ["opened", "monitor_down", "monitor_up", "resolved"]


async def test_related_monitors_of_one_host_share_one_incident(checker, target_server):
    path = f"/shared-{uuid.uuid4().hex[:6]}"
    target_server.replies[path] = Reply(500)
    first = await checker.monitor(url=target_server.url(path), failure_threshold=1)
    second = await checker.monitor(url=target_server.url(path) + "?b", failure_threshold=1)
    await checker.tick(first, second)
    [incident] = await _incidents(checker)
    target_server.replies[path] = Reply(200)
    await checker.set(second, success_threshold=1)
    await checker.set(first, success_threshold=1)
    await checker.tick(first)
    [incident] = await _incidents(checker)
    assert incident.status == "open"  # the second is still down
    await checker.tick(second)
    [incident] = await _incidents(checker)
    assert incident.status == "resolved"


async def test_a_timeout_is_a_failure_with_its_reason_stored(checker, target_server):
    path = f"/slow-{uuid.uuid4().hex[:6]}"
    target_server.replies[path] = Reply(200, b"late", delay=3)
    monitor_id = await checker.monitor(url=target_server.url(path), timeout_seconds=0.5)
    await checker.tick(monitor_id)
    monitor = await checker.get(monitor_id)
    assert monitor.last_ok is False
    assert monitor.last_error_kind == ErrorKind.TIMEOUT
    assert "0.5 s" in monitor.last_error
    async with checker.db.sessionmaker() as session:
        [failure] = await recent_failures(session, monitor_id, 10)
    assert failure["error_kind"] == ErrorKind.TIMEOUT and "0.5 s" in failure["reason"]


async def test_conditions_keyword_and_json_path(checker, target_server):
    path = f"/json-{uuid.uuid4().hex[:6]}"
    target_server.replies[path] = Reply(
        200, b'{"db": {"ok": true}, "v": "1"}', content_type="application/json"
    )
    good = await checker.monitor(
        url=target_server.url(path), http={"json_path": "$.db.ok", "json_expected": "true"}
    )
    bad_json = await checker.monitor(
        url=target_server.url(path), http={"json_path": "$.v", "json_expected": "2"}
    )
    absent = await checker.monitor(url=target_server.url(path), http={"keyword": "maintenance"})
    await checker.tick(good, bad_json, absent)
    assert (await checker.get(good)).last_ok is True
    assert (await checker.get(bad_json)).last_error_kind == ErrorKind.JSON_PATH
    assert (await checker.get(absent)).last_error_kind == ErrorKind.KEYWORD


async def test_a_heartbeat_that_goes_quiet_alerts_once(checker):
    now = datetime.now(UTC)
    monitor_id = await checker.monitor(
        kind=MonitorKind.HEARTBEAT,
        url=None,
        interval_seconds=60,
        grace_seconds=30,
        failure_threshold=1,
        last_beat_at=now - timedelta(seconds=10),
    )
    await checker.channel(monitor_id)
    await checker.tick(monitor_id)
    assert (await checker.get(monitor_id)).state == MonitorState.UP
    await checker.set(monitor_id, last_beat_at=now - timedelta(seconds=200))
    for _ in range(3):
        await checker.tick(monitor_id)
    monitor = await checker.get(monitor_id)
    assert monitor.state == MonitorState.DOWN
    assert monitor.last_error_kind == ErrorKind.NO_HEARTBEAT
    assert await _notifications(checker, monitor_id) == ["down"]


class NoConnections:
    """A network backend that fails the test if the checker ever tries to connect."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, int]] = []

    async def connect_tcp(self, host, port, **_):
        self.calls.append((host, port))
        raise AssertionError(f"the checker connected to {host}:{port}")

    async def sleep(self, seconds: float) -> None:  # pragma: no cover - httpcore's interface
        raise AssertionError("unexpected")


async def test_private_targets_written_straight_to_the_database_are_refused_unconnected(
    checker,
):
    checker.backend = NoConnections()
    ids = [
        await checker.monitor(url="http://127.0.0.1:8080/", failure_threshold=1),
        await checker.monitor(url="http://10.1.2.3/health"),
        await checker.monitor(url="http://169.254.169.254/latest/meta-data/"),
        await checker.monitor(url="https://[::ffff:169.254.169.254]/"),
        await checker.monitor(url="http://localhost:8104/"),
        await checker.monitor(kind=MonitorKind.TCP, url=None, host="10.0.0.1", port=22),
        await checker.monitor(kind=MonitorKind.TCP, url=None, host="127.0.0.1", port=5432),
    ]
    await checker.channel(ids[0])
    stats = await checker.tick(*ids)
    assert stats.checks >= len(ids)
    assert checker.backend.calls == []
    for monitor_id in ids:
        monitor = await checker.get(monitor_id)
        assert monitor.last_ok is False
        assert monitor.last_error_kind == ErrorKind.REFUSED_TARGET, monitor.last_error
        async with checker.db.sessionmaker() as session:
            [failure] = await recent_failures(session, monitor_id, 5)
        assert failure["error_kind"] == ErrorKind.REFUSED_TARGET
    # a refused target is a failure like any other: past its threshold it pages its owner
    assert await _notifications(checker, ids[0]) == ["down"]


async def test_muted_by_a_deploy_or_a_maintenance_window_pages_nobody(checker, target_server):
    path = f"/muted-{uuid.uuid4().hex[:6]}"
    target_server.replies[path] = Reply(500)
    now = datetime.now(UTC)
    deploying = await checker.monitor(
        url=target_server.url(path),
        failure_threshold=1,
        muted_until=now + timedelta(hours=1),
        mute_reason="deploy",
    )
    in_window = await checker.monitor(url=target_server.url(path) + "?w", failure_threshold=1)
    await checker.channel(deploying, in_window)

    async def window(session):
        session.add(
            MaintenanceWindow(
                owner_id=checker.owner_id,
                name="upgrade",
                starts_at=now - timedelta(minutes=5),
                ends_at=now + timedelta(hours=1),
                monitor_ids=[in_window],
            )
        )

    await checker.in_transaction(window)
    for _ in range(3):
        await checker.tick(deploying, in_window)
    for monitor_id in (deploying, in_window):
        monitor = await checker.get(monitor_id)
        assert monitor.last_ok is False and monitor.last_checked_at is not None
        assert monitor.state == MonitorState.PENDING
        assert await _notifications(checker, monitor_id) == []
    assert await _incidents(checker) == []

    # the mute ends with the target still failing: the normal threshold applies from then
    await checker.set(deploying, muted_until=now - timedelta(seconds=1))
    await checker.tick(deploying)
    assert (await checker.get(deploying)).state == MonitorState.DOWN
    assert await _notifications(checker, deploying) == ["down"]


async def test_a_suppressed_monitor_is_not_checked(checker, target_server):
    path = f"/stopped-{uuid.uuid4().hex[:6]}"
    target_server.replies[path] = Reply(200)
    monitor_id = await checker.monitor(
        url=target_server.url(path), suppressed=Suppression.APP_SUSPENDED
    )
    seen = len(target_server.requests)
    await checker.tick(monitor_id)
    monitor = await checker.get(monitor_id)
    assert monitor.last_checked_at is None and monitor.state == MonitorState.UNKNOWN
    assert not [r for r in target_server.requests[seen:] if r[0] == path]


async def test_the_platform_checks_an_app_through_its_route_with_its_host(
    checker, target_server, checks_settings
):
    path = f"/health-{uuid.uuid4().hex[:6]}"
    target_server.replies[path] = Reply(200)
    app_id = uuid.uuid4()
    monitor_id = await checker.monitor(
        kind=MonitorKind.APP_HTTP, app_id=app_id, url=path, host="shop.apps.localhost"
    )
    entry = checks_settings.traefik_entry_url
    checks_settings.traefik_entry_url = f"http://127.0.0.2:{target_server.port}"
    try:
        await checker.tick(monitor_id)
    finally:
        checks_settings.traefik_entry_url = entry
    assert (await checker.get(monitor_id)).last_ok is True
    [(_, headers)] = [r for r in target_server.requests if r[0] == path]
    assert headers["host"] == "shop.apps.localhost"


async def test_concurrent_batches_check_a_monitor_once_per_slot(checker, target_server):
    path = f"/once-{uuid.uuid4().hex[:6]}"
    target_server.replies[path] = Reply(200, delay=0.3)
    ids = [await checker.monitor(url=target_server.url(path) + f"?{i}") for i in range(20)]
    seen = len(target_server.requests)

    import asyncio

    from berth_monitoring.checks.probes import Prober
    from berth_monitoring.checks.service import RunStats, check_batch
    from berth_monitoring.targets import TargetPolicy

    async def due(session):
        from sqlalchemy import update

        from berth_monitoring.models import Monitor

        await session.execute(
            update(Monitor).where(Monitor.id.in_(ids)).values(next_check_at=func.now())
        )

    await checker.in_transaction(due)
    stats = RunStats()
    policy = TargetPolicy.from_settings(checker.settings)
    async with Prober(checker.settings, policy, concurrency=50) as prober:
        await asyncio.gather(
            *(
                checker.in_transaction(check_batch, prober=prober, limit=7, stats=stats)
                for _ in range(6)
            )
        )
    hits = [r for r in target_server.requests[seen:] if r[0].split("?")[0] == path]
    assert len(hits) == 20  # six overlapping claims of 7, yet each monitor checked once
    for monitor_id in ids:
        monitor = await checker.get(monitor_id)
        assert monitor.next_check_at > datetime.now(UTC)


async def test_process_liveness_is_one_call_to_deploy_per_run_with_the_machine_token(
    checker, target_server, checks_settings
):
    alive, dead, gone = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    body = {
        "items": [
            {"app_id": str(alive), "process_type": "worker", "alive": True, "state": "running"},
            {"app_id": str(dead), "process_type": "bot", "alive": False, "reason": "exit 137"},
        ],
        "checked_at": datetime.now(UTC).isoformat(),
    }
    prefix = f"/fake-{uuid.uuid4().hex[:6]}"
    target_server.replies[f"{prefix}/oauth/token"] = Reply(
        200,
        b'{"access_token": "machine-token", "expires_in": 300}',
        content_type="application/json",
    )
    target_server.replies[f"{prefix}/api/deploy/v1/liveness"] = Reply(
        200, json.dumps(body).encode(), content_type="application/json"
    )
    ids = [
        await checker.monitor(
            kind=MonitorKind.APP_PROCESS, url=None, app_id=app, failure_threshold=1
        )
        for app in (alive, dead, gone)
    ]
    fake = f"http://127.0.0.2:{target_server.port}{prefix}"
    saved = checks_settings.deploy_url, checks_settings.auth_url
    checks_settings.deploy_url = checks_settings.auth_url = fake
    seen = len(target_server.requests)
    try:
        await checker.tick(*ids)
    finally:
        checks_settings.deploy_url, checks_settings.auth_url = saved
    calls = [r for r in target_server.requests[seen:] if r[0].endswith("/liveness")]
    assert len(calls) == 1
    assert calls[0][1]["authorization"] == "Bearer machine-token"
    first, second, third = [await checker.get(i) for i in ids]
    assert first.last_ok is True
    assert second.last_error_kind == ErrorKind.PROCESS_DOWN and "exit 137" in second.last_error
    assert third.last_error_kind == ErrorKind.PROCESS_DOWN
