"""The platform's monitors of apps, kept by deploy's and billing's events.

- `deploy.instance.started`: the app's monitor is made or updated (a web app: kind app_http,
  its health path at its hostname through Traefik; a worker: kind app_process), and checked.
  A VPS (process_type "vps", app_id null) is watched the same way under its vps_id: kind vps,
  a TCP check of its SSH port (`ssh` {host, port}) plus its machine's state from deploy.
- `deploy.instance.stopped` by the owner or an admin: suppressed app_stopped (not "down");
  other ends (crash loop, a drained node) leave it checked: the app really is down.
- `deploy.instance.suspended`: suppressed app_suspended; `billing.account.suspended`: every
  platform monitor of the owner suppressed app_suspended; `billing.account.unsuspended` lifts
  that only for apps that run (a suspended app waits for its next `instance.started`).
- `deploy.instance.deleted`: the app's monitors go.
- `deploy.operation.started` / `finished`: the app's monitors are muted from the start until
  the end plus `deploy_mute_tail_seconds` (capped at OPERATION_MUTE_CAP if the end never comes).

Events may come twice (handled once by event id) or out of order: each app and owner row keeps
the moment of the word it holds (the payload's own timestamp), and an older word is dropped.
A payload without the keys a handler needs is skipped with a log line, never an error.
"""

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from loguru import logger
from sqlalchemy.ext.asyncio import AsyncSession

from berth_monitoring.config import MonitoringSettings
from berth_monitoring.enums import MonitorKind, MuteReason, Suppression
from berth_monitoring.models import Monitor
from berth_monitoring.monitors.dao import MonitorDAO
from berth_monitoring.monitors.service import first_check_at, stand_down
from berth_monitoring.platform.dao import PlatformDAO
from berth_monitoring.platform.models import PlatformApp

# an operation whose end never arrives stops muting its app after this long
OPERATION_MUTE_CAP = timedelta(hours=6)
FORGET_OPERATIONS_AFTER = timedelta(days=2)
OWNER_STOP_REASONS = ("stopped by user", "stopped by admin", "stopped by owner")


class Skip(ValueError):
    """The payload lacks what the handler needs."""


def _uuid(payload: dict[str, Any], key: str) -> uuid.UUID:
    try:
        return uuid.UUID(str(payload[key]))
    except (KeyError, ValueError, TypeError):
        raise Skip(f"no usable {key}") from None


def _moment(payload: dict[str, Any], key: str) -> datetime:
    """The payload's own timestamp; a missing or unreadable one counts as now."""
    try:
        moment = datetime.fromisoformat(str(payload[key]))
    except (KeyError, ValueError, TypeError):
        return datetime.now(UTC)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _newer(app: PlatformApp, at: datetime) -> bool:
    return app.lifecycle_at is None or at >= app.lifecycle_at


async def _effective(session: AsyncSession, app: PlatformApp) -> str | None:
    """Why the app's monitors are not checked: billing's suspension of the owner first."""
    owner = await PlatformDAO(session).owner(app.owner_id)
    if owner is not None and owner.suspended:
        return Suppression.APP_SUSPENDED
    return app.suppression


async def _mute_until(
    session: AsyncSession, settings: MonitoringSettings, app_id: uuid.UUID
) -> datetime | None:
    tail = timedelta(seconds=settings.deploy_mute_tail_seconds)
    until: datetime | None = None
    for op in await PlatformDAO(session).operations_of_app(app_id):
        if op.finished_at is not None:
            end = op.finished_at + tail
        elif op.started_at is not None:
            end = op.started_at + OPERATION_MUTE_CAP
        else:
            continue
        until = end if until is None else max(until, end)
    return until


async def _apply(
    session: AsyncSession,
    settings: MonitoringSettings,
    app: PlatformApp,
    monitors: list[Monitor],
) -> None:
    """Bring the app's monitors in line with what the events said (suppression and mute)."""
    suppression = await _effective(session, app)
    until = await _mute_until(session, settings, app.app_id)
    now = datetime.now(UTC)
    for monitor in monitors:
        if suppression is not None:
            if monitor.suppressed is None:
                await stand_down(session, monitor, now)
            monitor.suppressed = suppression
        elif monitor.suppressed in (Suppression.APP_STOPPED, Suppression.APP_SUSPENDED):
            # checked again, counters afresh: the time it was off says nothing about now
            monitor.suppressed = None
            monitor.consecutive_failures = 0
            monitor.consecutive_successes = 0
            monitor.next_check_at = first_check_at(min(monitor.interval_seconds, 10), now)
        if until is not None and until > now:
            monitor.muted_until, monitor.mute_reason = until, MuteReason.DEPLOY
        elif monitor.mute_reason == MuteReason.DEPLOY and (
            monitor.muted_until is None or monitor.muted_until > now
        ):
            monitor.muted_until = now
    await session.flush()


def _subject(payload: dict[str, Any]) -> uuid.UUID:
    """What the platform monitor watches: the app, or the VPS (its events have no app_id)."""
    if payload.get("app_id") is None and payload.get("vps_id") is not None:
        return _uuid(payload, "vps_id")
    return _uuid(payload, "app_id")


def _vps_target(settings: MonitoringSettings, payload: dict[str, Any]) -> dict[str, Any]:
    ssh = payload.get("ssh") if isinstance(payload.get("ssh"), dict) else {}
    host, port = ssh.get("host"), ssh.get("port")
    if not isinstance(host, str) or not host or not isinstance(port, int) or not 0 < port < 65536:
        raise Skip("a VPS without its SSH host and port")
    interval = settings.default_interval_seconds
    return {
        "kind": MonitorKind.VPS,
        "url": None,
        "host": host.lower()[:253],
        "port": port,
        "http": {},
        "timeout_seconds": max(0.5, min(settings.default_timeout_seconds, interval / 2, 60.0)),
        "interval_seconds": interval,
    }


def _target(settings: MonitoringSettings, payload: dict[str, Any]) -> dict[str, Any]:
    """The monitor's kind and target from `instance.started` (Skip if it does not say)."""
    process_type = payload.get("process_type")
    if process_type == "vps":
        return _vps_target(settings, payload)
    if process_type not in ("web", "worker"):
        raise Skip("no process_type")
    health = payload.get("health") if isinstance(payload.get("health"), dict) else {}
    try:
        timeout = float(health.get("timeout_seconds") or settings.default_timeout_seconds)
    except (TypeError, ValueError):
        timeout = settings.default_timeout_seconds
    interval = settings.default_interval_seconds
    timeout = max(0.5, min(timeout, interval / 2, 60.0))
    if process_type == "worker" or health.get("type") == "process":
        return {
            "kind": MonitorKind.APP_PROCESS,
            "url": None,
            "host": None,
            "port": None,
            "http": {},
            "timeout_seconds": timeout,
            "interval_seconds": interval,
        }
    hostname = payload.get("hostname")
    if not isinstance(hostname, str) or not hostname:
        raise Skip("a web app without hostname")
    path = health.get("path") if isinstance(health.get("path"), str) else "/"
    method = health.get("method") if health.get("method") in ("GET", "HEAD", "POST") else "GET"
    return {
        "kind": MonitorKind.APP_HTTP,
        "url": path if path.startswith("/") else f"/{path}",
        "host": hostname.lower()[:253],
        "port": None,
        "http": {"method": method, "expected_status": [[200, 399]]},
        "timeout_seconds": timeout,
        "interval_seconds": interval,
    }


async def instance_started(
    session: AsyncSession, settings: MonitoringSettings, payload: dict[str, Any]
) -> None:
    app_id, owner_id = _subject(payload), _uuid(payload, "owner_id")
    instance_id = _uuid(payload, "instance_id")
    target = _target(settings, payload)
    at = _moment(payload, "started_at")
    app = await PlatformDAO(session).app_for_update(app_id, owner_id)
    if app.deleted or not _newer(app, at):
        logger.info("app {}: instance.started of {} is older than what we know", app_id, at)
        return
    app.instance_id, app.running, app.suppression, app.lifecycle_at = instance_id, True, None, at
    dao = MonitorDAO(session)
    monitors = await dao.of_app(app_id)
    for stale in [m for m in monitors if m.kind != target["kind"]]:
        await dao.delete(stale)  # the app changed from web to worker or back
    monitors = [m for m in monitors if m.kind == target["kind"]]
    if monitors:
        for monitor in monitors:
            interval = monitor.interval_seconds  # a user may have changed it
            values = {**target, "interval_seconds": interval}
            values["timeout_seconds"] = min(target["timeout_seconds"], interval / 2)
            await dao.update(monitor, **values)
    else:
        name = str(
            payload.get("app_name") or payload.get("vps_name") or payload.get("app_slug") or "app"
        )[:120]
        monitors = [
            await dao.create(
                owner_id=owner_id,
                app_id=app_id,
                name=name,
                failure_threshold=settings.default_failure_threshold,
                success_threshold=settings.default_success_threshold,
                next_check_at=first_check_at(target["interval_seconds"]),
                **target,
            )
        ]
        logger.info("app {}: platform monitor {} ({})", app_id, monitors[0].id, target["kind"])
    await _apply(session, settings, app, monitors)


async def instance_ended(
    session: AsyncSession, settings: MonitoringSettings, key: str, payload: dict[str, Any]
) -> None:
    """stopped / suspended / deleted (key: the event's last word)."""
    app_id, owner_id = _subject(payload), _uuid(payload, "owner_id")
    instance_id = _uuid(payload, "instance_id")
    at = _moment(payload, "stopped_at")
    app = await PlatformDAO(session).app_for_update(app_id, owner_id)
    dao = MonitorDAO(session)
    if key == "deleted":
        app.deleted, app.running, app.lifecycle_at = True, False, at
        for monitor in await dao.of_app(app_id):
            await stand_down(session, monitor, datetime.now(UTC))
        removed = await dao.delete_of_app(app_id)
        logger.info("app {} deleted: {} platform monitors removed", app_id, removed)
        return
    if app.deleted or not _newer(app, at):
        return
    if app.instance_id is not None and app.instance_id != instance_id:
        return  # an older instance (replaced in a rollout) ended: the app still runs
    reason = str(payload.get("reason") or "")
    app.running, app.lifecycle_at = False, at
    if key == "suspended":
        app.suppression = Suppression.APP_SUSPENDED
    elif reason.startswith(OWNER_STOP_REASONS):
        app.suppression = Suppression.APP_STOPPED
    else:
        app.suppression = None  # crashed or moved: a real outage, or a deploy's muted gap
    await _apply(session, settings, app, await dao.of_app(app_id))


async def owner_standing(
    session: AsyncSession, settings: MonitoringSettings, suspended: bool, payload: dict[str, Any]
) -> None:
    """billing.account.suspended / unsuspended for every platform monitor of the owner."""
    owner_id = _uuid(payload, "owner_id")
    at = _moment(payload, "suspended_at" if suspended else "unsuspended_at")
    dao = PlatformDAO(session)
    await dao.add_owner(owner_id, suspended, at)
    owner = await dao.owner_for_update(owner_id)
    assert owner is not None
    if owner.changed_at > at:
        logger.info("owner {}: billing's word of {} is older than what we know", owner_id, at)
        return
    owner.suspended, owner.changed_at = suspended, at
    await session.flush()
    monitors = await MonitorDAO(session).platform_of_owner(owner_id)
    for app in await dao.apps_of_owner(owner_id):
        await _apply(session, settings, app, [m for m in monitors if m.app_id == app.app_id])


async def operation(
    session: AsyncSession, settings: MonitoringSettings, finished: bool, payload: dict[str, Any]
) -> None:
    """deploy.operation.started / finished: mute the app's monitors while it runs, + a tail."""
    operation_id, app_id = _uuid(payload, "operation_id"), _uuid(payload, "app_id")
    owner_id = _uuid(payload, "owner_id")
    dao = PlatformDAO(session)
    app = await dao.app_for_update(app_id, owner_id)
    op = await dao.operation_for_update(operation_id, app_id)
    if finished:
        op.finished_at = _moment(payload, "finished_at")
    else:
        op.started_at = _moment(payload, "started_at")
    await session.flush()
    await dao.forget_operations(app_id, datetime.now(UTC) - FORGET_OPERATIONS_AFTER)
    if not app.deleted:
        await _apply(session, settings, app, await MonitorDAO(session).of_app(app_id))


async def handle(
    session: AsyncSession, settings: MonitoringSettings, key: str, payload: dict[str, Any]
) -> None:
    """One consumed event; a payload this cannot use is logged and dropped."""
    try:
        if key == "deploy.instance.started":
            await instance_started(session, settings, payload)
        elif key.startswith("deploy.instance."):
            await instance_ended(session, settings, key.rsplit(".", 1)[1], payload)
        elif key in ("billing.account.suspended", "billing.account.unsuspended"):
            await owner_standing(session, settings, key.endswith(".suspended"), payload)
        elif key in ("deploy.operation.started", "deploy.operation.finished"):
            await operation(session, settings, key.endswith(".finished"), payload)
    except Skip as exc:
        logger.warning("event {} skipped: {}", key, exc)
