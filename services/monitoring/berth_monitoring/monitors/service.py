"""A user's monitors: create (the target judged by the SSRF policy before anything is saved),
change, pause, link to channels, heartbeat push tokens, and the figures a monitor's page shows.

Invariants: a user reaches only their own monitors (another's is "not found"); a user monitor's
target has been resolved and judged public (or in an operator-opened network) when it is saved;
the platform's monitors of apps keep the target their app gives them.
"""

import asyncio
import hashlib
import random
import secrets
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy.ext.asyncio import AsyncSession

from berth_common.errors import Conflict, NotFound, Unprocessable
from berth_common.pagination import PageParams
from berth_monitoring.config import MonitoringSettings
from berth_monitoring.enums import MonitorKind, Suppression
from berth_monitoring.models import Monitor
from berth_monitoring.monitors import schemas
from berth_monitoring.monitors.dao import ChannelLinkDAO, MonitorDAO
from berth_monitoring.results import service as results
from berth_monitoring.targets import TargetPolicy, TargetRefused, TargetUnresolvable

HEARTBEAT_PATH = "/api/monitoring/v1/heartbeat/"
# a save waits at most this long for the target's name to resolve
RESOLVE_SECONDS = 5
# what the detail page's chart shows for each range: how far back, in which buckets
RANGES = {
    "1h": (timedelta(hours=1), timedelta(minutes=1)),
    "24h": (timedelta(hours=24), timedelta(hours=1)),
    "7d": (timedelta(days=7), timedelta(hours=1)),
    "30d": (timedelta(days=30), timedelta(days=1)),
}
# fields a user may change on the platform's monitor of an app (its target follows the app)
MANAGED_EDITABLE = frozenset({"name", "failure_threshold", "success_threshold", "resend_minutes"})


class TargetNotAllowed(Unprocessable):
    code = "target_refused"


class QuotaExceeded(Conflict):
    code = "quota_exceeded"


class ManagedMonitor(Conflict):
    code = "managed_monitor"


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def first_check_at(interval_seconds: int, now: datetime | None = None) -> datetime:
    """Now plus a random phase within the interval, so monitors of equal interval spread."""
    return (now or datetime.now(UTC)) + timedelta(seconds=random.uniform(0, interval_seconds))  # noqa: S311


def _new_push_token() -> tuple[str, str]:
    token = secrets.token_urlsafe(32)
    return token, token_hash(token)


def push_url(settings: MonitoringSettings, token: str) -> str:
    return f"{settings.public_url.rstrip('/')}{HEARTBEAT_PATH}{token}"


def _refuse(message: str, field: str) -> TargetNotAllowed:
    return TargetNotAllowed(message, details={"field": field})


async def _judge(policy: TargetPolicy, host: str, port: int, field: str) -> None:
    try:
        async with asyncio.timeout(RESOLVE_SECONDS):
            await policy.resolve(host, port)
    except TimeoutError:
        raise _refuse(f"{host} did not resolve within {RESOLVE_SECONDS} s", field) from None
    except TargetRefused as exc:
        raise _refuse(exc.reason, field) from None
    except TargetUnresolvable as exc:
        raise _refuse(str(exc), field) from None


async def check_url(policy: TargetPolicy, url: str) -> str:
    """An http(s) URL without credentials whose host resolves only to allowed addresses."""
    if any(c.isspace() or ord(c) < 32 for c in url):
        raise _refuse("The URL contains spaces or control characters", "url")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise _refuse(f"The URL cannot be read: {exc}", "url") from None
    if parts.scheme.lower() not in ("http", "https"):
        raise _refuse("Only http and https URLs can be monitored", "url")
    if parts.username is not None or parts.password is not None:
        raise _refuse("The URL may not carry a user name or password", "url")
    if not parts.hostname:
        raise _refuse("The URL has no host", "url")
    if port == 0:
        raise _refuse("The URL's port must be between 1 and 65535", "url")
    await _judge(
        policy, parts.hostname, port or (443 if parts.scheme.lower() == "https" else 80), "url"
    )
    return url


async def check_tcp(policy: TargetPolicy, host: str, port: int) -> str:
    name = host.strip()
    if not name or any(c.isspace() or c in "/?#@" for c in name):
        raise _refuse("The host is not a host name or address", "host")
    await _judge(policy, name, port, "host")
    return name


def _check_timing(settings: MonitoringSettings, interval: int, timeout: float) -> None:
    if interval < settings.min_interval_seconds:
        raise Unprocessable(
            f"The interval must be at least {settings.min_interval_seconds} seconds",
            details={"field": "interval_seconds", "min": settings.min_interval_seconds},
        )
    if timeout >= interval:
        raise Unprocessable(
            "The timeout must be shorter than the interval",
            details={"field": "timeout_seconds"},
        )


async def create(
    session: AsyncSession,
    settings: MonitoringSettings,
    policy: TargetPolicy,
    owner_id: uuid.UUID,
    body: schemas.MonitorCreate,
) -> tuple[Monitor, str | None]:
    """The new monitor and, for a heartbeat, its push token (shown this once)."""
    dao = MonitorDAO(session)
    await dao.lock_owner(owner_id)
    if await dao.count_user_monitors(owner_id) >= settings.monitors_per_user:
        raise QuotaExceeded(
            f"You have reached the limit of {settings.monitors_per_user} monitors",
            details={"limit": settings.monitors_per_user},
        )
    interval = body.interval_seconds or settings.default_interval_seconds
    timeout = body.timeout_seconds or min(settings.default_timeout_seconds, interval / 2)
    _check_timing(settings, interval, timeout)
    values: dict[str, Any] = {}
    token = None
    if body.kind == MonitorKind.HTTP:
        assert body.url is not None
        values["url"] = await check_url(policy, body.url)
        values["http"] = (body.http or schemas.HttpConditions()).model_dump(mode="json")
    elif body.kind == MonitorKind.TCP:
        assert body.host is not None and body.port is not None
        values["host"] = await check_tcp(policy, body.host, body.port)
        values["port"] = body.port
    else:
        token, values["heartbeat_token_hash"] = _new_push_token()
    monitor = await dao.create(
        owner_id=owner_id,
        name=body.name.strip() or body.kind,
        kind=body.kind,
        interval_seconds=interval,
        timeout_seconds=timeout,
        failure_threshold=body.failure_threshold or settings.default_failure_threshold,
        success_threshold=body.success_threshold or settings.default_success_threshold,
        resend_minutes=body.resend_minutes,
        grace_seconds=body.grace_seconds,
        next_check_at=first_check_at(interval),
        **values,
    )
    return monitor, token


async def owned(session: AsyncSession, owner_id: uuid.UUID, monitor_id: uuid.UUID) -> Monitor:
    monitor = await MonitorDAO(session).owned(owner_id, monitor_id)
    if monitor is None:
        raise NotFound("Monitor not found")
    return monitor


async def _owned_for_update(
    session: AsyncSession, owner_id: uuid.UUID, monitor_id: uuid.UUID
) -> Monitor:
    monitor = await MonitorDAO(session).owned_for_update(owner_id, monitor_id)
    if monitor is None:
        raise NotFound("Monitor not found")
    return monitor


async def update(
    session: AsyncSession,
    settings: MonitoringSettings,
    policy: TargetPolicy,
    owner_id: uuid.UUID,
    monitor_id: uuid.UUID,
    body: schemas.MonitorUpdate,
) -> Monitor:
    monitor = await _owned_for_update(session, owner_id, monitor_id)
    changes = body.model_dump(exclude_unset=True)
    if None in (changes.get(k, 0) for k in changes if k != "http"):
        nulls = sorted(k for k, v in changes.items() if v is None)
        raise Unprocessable(f"{', '.join(nulls)} cannot be empty", details={"fields": nulls})
    if monitor.app_id is not None and set(changes) - MANAGED_EDITABLE:
        raise ManagedMonitor(
            "This monitor follows its app: only its name, thresholds and reminders can change",
            details={"editable": sorted(MANAGED_EDITABLE)},
        )
    kind_fields = {
        MonitorKind.HTTP: {"url", "http"},
        MonitorKind.TCP: {"host", "port"},
        MonitorKind.HEARTBEAT: {"grace_seconds"},
    }.get(MonitorKind(monitor.kind), set())
    foreign = {"url", "http", "host", "port", "grace_seconds"} & set(changes) - kind_fields
    if foreign:
        raise Unprocessable(
            f"A {monitor.kind} monitor takes no {', '.join(sorted(foreign))}",
            details={"fields": sorted(foreign)},
        )
    interval = changes.get("interval_seconds", monitor.interval_seconds)
    timeout = changes.get("timeout_seconds", monitor.timeout_seconds)
    _check_timing(settings, interval, timeout)
    if "url" in changes:
        changes["url"] = await check_url(policy, changes["url"])
    if "host" in changes or "port" in changes:
        changes["host"] = await check_tcp(
            policy, changes.get("host", monitor.host), changes.get("port", monitor.port)
        )
    if "http" in changes:
        changes["http"] = (body.http or schemas.HttpConditions()).model_dump(mode="json")
    if "name" in changes:
        changes["name"] = changes["name"].strip() or monitor.name
    if interval != monitor.interval_seconds:
        changes["next_check_at"] = first_check_at(interval)
    return await MonitorDAO(session).update(monitor, **changes)


async def delete(session: AsyncSession, owner_id: uuid.UUID, monitor_id: uuid.UUID) -> None:
    monitor = await _owned_for_update(session, owner_id, monitor_id)
    if monitor.app_id is not None:
        raise ManagedMonitor("This monitor goes away with its app; it cannot be deleted")
    await MonitorDAO(session).delete(monitor)


async def pause(session: AsyncSession, owner_id: uuid.UUID, monitor_id: uuid.UUID) -> Monitor:
    monitor = await _owned_for_update(session, owner_id, monitor_id)
    if monitor.suppressed not in (None, Suppression.PAUSED):
        raise Conflict(f"This monitor is not checked now: {monitor.suppressed}")
    return await MonitorDAO(session).update(monitor, suppressed=Suppression.PAUSED)


async def resume(session: AsyncSession, owner_id: uuid.UUID, monitor_id: uuid.UUID) -> Monitor:
    monitor = await _owned_for_update(session, owner_id, monitor_id)
    if monitor.suppressed != Suppression.PAUSED:
        return monitor
    # the counters start afresh: what happened before the pause says nothing about now
    return await MonitorDAO(session).update(
        monitor,
        suppressed=None,
        consecutive_failures=0,
        consecutive_successes=0,
        next_check_at=first_check_at(min(monitor.interval_seconds, 5)),
    )


async def channels(
    session: AsyncSession, owner_id: uuid.UUID, monitor_id: uuid.UUID
) -> list[uuid.UUID]:
    await owned(session, owner_id, monitor_id)
    return await ChannelLinkDAO(session).linked(monitor_id)


async def link_channels(
    session: AsyncSession, owner_id: uuid.UUID, monitor_id: uuid.UUID, channel_ids: list[uuid.UUID]
) -> list[uuid.UUID]:
    await _owned_for_update(session, owner_id, monitor_id)
    wanted = list(dict.fromkeys(channel_ids))
    links = ChannelLinkDAO(session)
    unknown = [c for c in wanted if c not in await links.owned_channel_ids(owner_id, wanted)]
    if unknown:
        raise Unprocessable(
            "Unknown alert channels", details={"channel_ids": [str(c) for c in unknown]}
        )
    await links.replace(monitor_id, wanted)
    return sorted(wanted)


async def regenerate_token(
    session: AsyncSession, owner_id: uuid.UUID, monitor_id: uuid.UUID
) -> str:
    monitor = await _owned_for_update(session, owner_id, monitor_id)
    if monitor.kind != MonitorKind.HEARTBEAT:
        raise Unprocessable("Only heartbeat monitors have a push URL")
    token, hashed = _new_push_token()
    await MonitorDAO(session).update(monitor, heartbeat_token_hash=hashed)
    return token


def token_looks_valid(token: str) -> bool:
    return 20 <= len(token) <= 100 and all(c.isalnum() or c in "-_" for c in token)


async def beat(session: AsyncSession, token: str) -> datetime:
    """Record a heartbeat push; an unknown token is "not found" whatever its shape."""
    now = datetime.now(UTC)
    if (
        not token_looks_valid(token)
        or await MonitorDAO(session).record_beat(token_hash(token), now) is None
    ):
        raise NotFound("Unknown heartbeat URL")
    return now


async def page(
    session: AsyncSession,
    owner_id: uuid.UUID,
    params: PageParams,
    **filters: Any,
) -> schemas.MonitorPage:
    dao = MonitorDAO(session)
    items, total = await dao.page(params, owner_id=owner_id, **filters)
    uptimes = await results.uptime(session, [m.id for m in items])
    out = [
        schemas.MonitorListItem.model_validate(m).model_copy(
            update={"uptime": uptimes.get(m.id, {})}
        )
        for m in items
    ]
    page_ = schemas.MonitorPage.build(out, total, params)
    page_.counts = await dao.counts_by_state(owner_id)
    return page_


async def stats(
    session: AsyncSession, owner_id: uuid.UUID, monitor_id: uuid.UUID, range_: str
) -> schemas.MonitorStats:
    await owned(session, owner_id, monitor_id)
    if range_ not in RANGES:
        raise Unprocessable(f"range is one of {', '.join(RANGES)}")
    back, step = RANGES[range_]
    uptime = (await results.uptime(session, [monitor_id])).get(monitor_id, {})
    series = await results.latency_series(session, monitor_id, datetime.now(UTC) - back, step)
    failures = await results.recent_failures(session, monitor_id, 20)
    return schemas.MonitorStats(
        uptime=uptime,
        range=range_,
        latency=[
            schemas.LatencyPoint(at=at, avg_ms=avg, max_ms=top, up_ratio=up)
            for at, avg, top, up in series
        ],
        failures=[schemas.Failure(**failure) for failure in failures],
    )
