"""With the real checker: an app's monitor muted by a deploy in progress is checked (its
failures are stored) but alerts nobody; a billing suspension stops its checks altogether."""

import uuid
from datetime import UTC, datetime

from fixtures_checks import Checker, Reply
from sqlalchemy import func, select

from berth_monitoring.models import Monitor, Notification
from berth_monitoring.platform import service as platform

HEALTH = "/platform-health-fails"


async def _event(checker: Checker, settings, key: str, payload: dict) -> None:
    async def handle(session):
        await platform.handle(session, settings, key, payload)

    await checker.in_transaction(handle)


async def _app_monitor(checker: Checker, app_id: uuid.UUID) -> Monitor:
    async with checker.db.sessionmaker() as session:
        return (await session.execute(select(Monitor).where(Monitor.app_id == app_id))).scalar_one()


async def _notifications(checker: Checker, monitor_id: uuid.UUID) -> int:
    async with checker.db.sessionmaker() as session:
        stmt = select(func.count()).where(Notification.subject_id == monitor_id)
        return (await session.execute(stmt)).scalar_one()


def _started(app_id, owner_id, host: str) -> dict:
    return {
        "instance_id": str(uuid.uuid4()),
        "app_id": str(app_id),
        "app_slug": "shop",
        "app_name": "Shop",
        "owner_id": str(owner_id),
        "started_at": datetime.now(UTC).isoformat(),
        "process_type": "web",
        "hostname": host,
        "health": {"type": "http", "path": HEALTH, "method": "GET", "timeout_seconds": 2},
    }


async def test_a_deploy_mutes_and_a_suspension_stops_the_checks(
    checks_db, checks_settings, target_server
):
    # the platform's checks of apps enter "Traefik" here: the test's target server
    settings = checks_settings.model_copy(update={"traefik_entry_url": target_server.url("")})
    checker = Checker(checks_db, settings)
    target_server.replies[HEALTH] = Reply(503, b"down")
    app_id = uuid.uuid4()
    now = datetime.now(UTC).isoformat()
    operation = {
        "operation_id": str(uuid.uuid4()),
        "app_id": str(app_id),
        "owner_id": str(checker.owner_id),
        "kind": "deploy",
        "origin": "user",
        "started_at": now,
    }
    try:
        await _event(checker, settings, "deploy.operation.started", operation)
        await _event(
            checker,
            settings,
            "deploy.instance.started",
            _started(app_id, checker.owner_id, "shop.apps.localhost"),
        )
        monitor = await _app_monitor(checker, app_id)
        checker.monitor_ids.append(monitor.id)
        await checker.channel(monitor.id)
        for _ in range(monitor.failure_threshold + 1):
            await checker.tick(monitor.id)
        muted = await _app_monitor(checker, app_id)
        assert muted.last_ok is False and muted.mute_reason == "deploy"
        assert any(path == HEALTH for path, _ in target_server.requests)
        assert await _notifications(checker, monitor.id) == 0  # checked, stored, nobody paged

        await _event(
            checker,
            settings,
            "billing.account.suspended",
            {"owner_id": str(checker.owner_id), "suspended_at": datetime.now(UTC).isoformat()},
        )
        before = (await _app_monitor(checker, app_id)).last_checked_at
        await checker.tick(monitor.id)
        suspended = await _app_monitor(checker, app_id)
        assert suspended.suppressed == "app_suspended"
        assert suspended.last_checked_at == before  # not checked at all
        assert await _notifications(checker, monitor.id) == 0
    finally:
        await checker.park()
