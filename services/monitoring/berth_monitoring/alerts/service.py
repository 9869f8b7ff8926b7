"""Alert channels and the notifications owed to them.

Producers (the checker, the queue pages) insert notifications in the transaction of the change
that owes them and enqueue their delivery through the outbox: a rolled-back change alerts
nobody, a committed one is never lost. `dedupe_key` is unique, so a transition, a reminder
slot or a queue episode alerts each channel once however often the producer runs.
"""

import ipaddress
import math
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy.ext.asyncio import AsyncSession

from berth_common.errors import NotFound, RateLimited, Unprocessable
from berth_common.outbox import enqueue_task
from berth_common.pagination import PageParams
from berth_monitoring.alerts import delivery
from berth_monitoring.alerts.dao import ChannelDAO, NotificationDAO
from berth_monitoring.alerts.schemas import (
    Channel,
    ChannelCreate,
    ChannelUpdate,
    ChannelWithSecret,
    EmailChannelCreate,
    TelegramChannelCreate,
    TestResult,
    WebhookChannelCreate,
)
from berth_monitoring.alerts.secrets import ChannelCipher, hint, new_signing_secret
from berth_monitoring.config import get_settings
from berth_monitoring.enums import ChannelKind, NotificationEvent, SubjectKind
from berth_monitoring.models import AlertChannel, Incident, Monitor
from berth_monitoring.names import QUEUE, Task
from berth_monitoring.targets import TargetPolicy, TargetRefused, TargetUnresolvable

CHANNELS_PER_USER = 50
TEST_EVERY = timedelta(seconds=10)
# a person's test messages across all their channels: a test goes to any address or URL, so
# the button must not become a way to mail strangers
TESTS_PER_HOUR = 30


# --- channels -----------------------------------------------------------------------------


async def judge_webhook_url(policy: TargetPolicy, url: str) -> str:
    """https to a public host; http only into a network the operator opened (tests, a LAN)."""
    try:
        parts = urlsplit(url)
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        raise Unprocessable("The webhook URL is not a valid URL") from None
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise Unprocessable("The webhook URL must be an https:// URL")
    if parts.username or parts.password:
        raise Unprocessable("The webhook URL may not carry a user name or password")
    if parts.fragment:
        raise Unprocessable("The webhook URL may not have a #fragment")
    try:
        addresses = await policy.resolve(parts.hostname, port)
    except TargetRefused as exc:
        raise Unprocessable(f"The webhook URL is refused: {exc.reason}") from None
    except TargetUnresolvable:
        raise Unprocessable(f"The webhook host {parts.hostname} does not resolve") from None
    if parts.scheme == "http":
        opened = all(
            any(ipaddress.ip_address(a.partition("%")[0]) in n for n in policy.allowed_networks)
            for a in addresses
        )
        if not opened:
            raise Unprocessable("The webhook URL must be an https:// URL")
    return url


def shown(channel: AlertChannel, cipher: ChannelCipher) -> Channel:
    secret = None
    if channel.secret_encrypted is not None:
        secret = hint(cipher.decrypt(channel.secret_encrypted))
    return Channel(
        id=channel.id,
        kind=ChannelKind(channel.kind),
        name=channel.name,
        target=channel.target,
        secret=secret,
        is_enabled=channel.is_enabled,
        last_test_at=channel.last_test_at,
        created_at=channel.created_at,
    )


async def list_channels(
    session: AsyncSession, cipher: ChannelCipher, owner_id: uuid.UUID, params: PageParams
) -> tuple[list[Channel], int]:
    rows, total = await ChannelDAO(session).list(params, AlertChannel.owner_id == owner_id)
    return [shown(row, cipher) for row in rows], total


async def get_channel(
    session: AsyncSession, owner_id: uuid.UUID, channel_id: uuid.UUID
) -> AlertChannel:
    channel = await ChannelDAO(session).owned(owner_id, channel_id)
    if channel is None:
        raise NotFound("Alert channel not found")
    return channel


async def create_channel(
    session: AsyncSession,
    cipher: ChannelCipher,
    policy: TargetPolicy,
    owner_id: uuid.UUID,
    body: ChannelCreate,
) -> ChannelWithSecret:
    channels = ChannelDAO(session)
    if await channels.count_of(owner_id) >= CHANNELS_PER_USER:
        raise Unprocessable(f"At most {CHANNELS_PER_USER} alert channels per user")
    signing_secret: str | None = None
    if isinstance(body, EmailChannelCreate):
        target, secret = body.address, None
    elif isinstance(body, WebhookChannelCreate):
        target = await judge_webhook_url(policy, body.url)
        signing_secret = secret = new_signing_secret()
    else:
        assert isinstance(body, TelegramChannelCreate)
        target, secret = body.chat_id, body.bot_token
    channel = await channels.create(
        owner_id=owner_id,
        kind=body.kind,
        name=body.name,
        target=target,
        secret_encrypted=cipher.encrypt(secret) if secret is not None else None,
    )
    return ChannelWithSecret(**shown(channel, cipher).model_dump(), signing_secret=signing_secret)


_KIND_FIELDS = {
    ChannelKind.EMAIL: {"address"},
    ChannelKind.WEBHOOK: {"url", "rotate_secret"},
    ChannelKind.TELEGRAM: {"chat_id", "bot_token"},
}


async def update_channel(
    session: AsyncSession,
    cipher: ChannelCipher,
    policy: TargetPolicy,
    channel: AlertChannel,
    body: ChannelUpdate,
) -> ChannelWithSecret:
    given = body.model_dump(exclude_unset=True, exclude_none=True)
    if given.get("rotate_secret") is False:
        given.pop("rotate_secret")
    foreign = set(given) - {"name", "is_enabled"} - _KIND_FIELDS[ChannelKind(channel.kind)]
    if foreign:
        raise Unprocessable(
            f"A {channel.kind} channel has no {', '.join(sorted(foreign))}",
            details={"fields": sorted(foreign)},
        )
    values: dict[str, Any] = {k: given[k] for k in ("name", "is_enabled") if k in given}
    signing_secret: str | None = None
    if "address" in given:
        values["target"] = given["address"]
    if "chat_id" in given:
        values["target"] = given["chat_id"]
    if "url" in given:
        values["target"] = await judge_webhook_url(policy, given["url"])
    if "bot_token" in given:
        values["secret_encrypted"] = cipher.encrypt(given["bot_token"])
    if given.get("rotate_secret"):
        signing_secret = new_signing_secret()
        values["secret_encrypted"] = cipher.encrypt(signing_secret)
    await ChannelDAO(session).update(channel, **values)
    return ChannelWithSecret(**shown(channel, cipher).model_dump(), signing_secret=signing_secret)


async def delete_channel(session: AsyncSession, channel: AlertChannel) -> None:
    await ChannelDAO(session).delete(channel)


async def test_channel(
    session: AsyncSession, senders: delivery.Senders, channel: AlertChannel
) -> TestResult:
    """Deliver a TEST message now, for real, and say how it went (one per 10 s a channel)."""
    now = datetime.now(UTC)
    sent = await NotificationDAO(session).tests_since(channel.owner_id, now - timedelta(hours=1))
    if sent >= TESTS_PER_HOUR:
        raise RateLimited(
            f"At most {TESTS_PER_HOUR} test messages an hour; try again later", retry_after=600
        )
    if not await ChannelDAO(session).claim_test_slot(channel, now, TEST_EVERY):
        raise RateLimited(
            "This channel was tested a moment ago; try again in a few seconds",
            retry_after=int(TEST_EVERY.total_seconds()),
        )
    settings = senders.settings
    notification_id = await NotificationDAO(session).add_once(
        {
            "owner_id": channel.owner_id,
            "channel_id": channel.id,
            "subject_kind": SubjectKind.CHANNEL,
            "subject_id": channel.id,
            "event": NotificationEvent.TEST,
            "dedupe_key": f"test:{channel.id}:{uuid.uuid4()}",
            "payload": {
                "summary": f"Test alert from Berth to {channel.name}",
                "detail": "This channel works: real alerts will arrive here.",
                "url": f"{settings.issuer}/monitoring/channels",
                "at": now.isoformat(),
            },
        }
    )
    assert notification_id is not None  # a fresh key
    outcome = await delivery.deliver(session, senders, notification_id, retry=False)
    return TestResult(
        notification_id=notification_id,
        event=NotificationEvent.TEST,
        status=str(outcome.status),
        error=outcome.error,
    )


# --- notifications owed by producers -------------------------------------------------------

_SUMMARIES = {
    NotificationEvent.DOWN: "{name} is DOWN",
    NotificationEvent.RECOVERED: "{name} is UP again",
    NotificationEvent.REMINDER: "{name} is still DOWN",
}


async def _owe(
    session: AsyncSession,
    channels: Sequence[AlertChannel],
    *,
    subject_kind: SubjectKind,
    subject_id: uuid.UUID | None,
    incident_id: uuid.UUID | None,
    event: str,
    dedupe_base: str,
    payload: dict[str, Any],
) -> list[uuid.UUID]:
    notifications = NotificationDAO(session)
    created: list[uuid.UUID] = []
    for channel in channels:
        notification_id = await notifications.add_once(
            {
                "owner_id": channel.owner_id,
                "channel_id": channel.id,
                "subject_kind": subject_kind,
                "subject_id": subject_id,
                "incident_id": incident_id,
                "event": event,
                "dedupe_key": f"{dedupe_base}:{channel.id}"[:300],
                "payload": payload,
            }
        )
        if notification_id is None:
            continue  # owed once already
        await enqueue_task(
            session,
            Task.DELIVER_NOTIFICATION,
            queue=QUEUE,
            kwargs={"notification_id": str(notification_id)},
        )
        created.append(notification_id)
    return created


def reminder_slot(monitor: Monitor, now: datetime) -> int:
    """Which resend period of the monitor's current outage `now` falls in (0: the DOWN
    alert's own); the checker resends when this is past the last one served."""
    if monitor.resend_minutes <= 0:
        return 0
    minutes = (now - monitor.state_changed_at).total_seconds() / 60
    return max(0, math.floor(minutes / monitor.resend_minutes))


async def notify(
    session: AsyncSession,
    monitor: Monitor,
    incident: Incident,
    event: NotificationEvent | str,
    detail: str | None,
    *,
    slot: int | str | None = None,
) -> list[uuid.UUID]:
    """One notification per enabled channel of the monitor for this transition (DOWN,
    RECOVERED) or reminder slot (REMINDER: `slot`, by default `reminder_slot(monitor, now)`);
    dedupe_key `<event>:<monitor>:<incident>[:<slot>]:<channel>`. Returns the new ids."""
    event = NotificationEvent(event)
    settings = get_settings()
    now = datetime.now(UTC)
    base = f"{event}:{monitor.id}:{incident.id}"
    if event == NotificationEvent.REMINDER:
        if slot is None:
            slot = reminder_slot(monitor, now)
        base = f"{base}:{slot}"
    payload = {
        "summary": _SUMMARIES.get(event, "{name}: " + str(event)).format(name=monitor.name),
        "detail": (detail or "")[:1000],
        "url": f"{settings.issuer}/monitoring/monitors/{monitor.id}",
        "monitor": {"id": str(monitor.id), "name": monitor.name, "kind": monitor.kind},
        "state": monitor.state,
        "incident": {
            "id": str(incident.id),
            "title": incident.title,
            "opened_at": incident.opened_at.isoformat() if incident.opened_at else None,
            "resolved_at": incident.resolved_at.isoformat() if incident.resolved_at else None,
        },
        "at": now.isoformat(),
    }
    channels = await ChannelDAO(session).enabled_of_monitor(monitor.id)
    return await _owe(
        session,
        channels,
        subject_kind=SubjectKind.MONITOR,
        subject_id=monitor.id,
        incident_id=incident.id,
        event=event,
        dedupe_base=base,
        payload=payload,
    )


async def notify_queue(
    session: AsyncSession,
    *,
    owner_id: uuid.UUID,
    channel_ids: Sequence[uuid.UUID],
    subject_id: uuid.UUID | None,
    event: NotificationEvent | str,
    episode_key: str,
    summary: str,
    detail: str | None = None,
    url: str | None = None,
    extra: dict[str, Any] | None = None,
) -> list[uuid.UUID]:
    """The queue pages' alerts: to the given channels of `owner_id` (the on-call engineer's
    own; others' ids are ignored), once per `episode_key` and event."""
    event = NotificationEvent(event)
    channels = await ChannelDAO(session).enabled_among(owner_id, channel_ids)
    payload = {
        **(extra or {}),
        "summary": summary,
        "detail": (detail or "")[:1000],
        "url": url or f"{get_settings().issuer}/ops/queues",
        "at": datetime.now(UTC).isoformat(),
    }
    return await _owe(
        session,
        channels,
        subject_kind=SubjectKind.QUEUE,
        subject_id=subject_id,
        incident_id=None,
        event=event,
        dedupe_base=f"{event}:queue:{episode_key}",
        payload=payload,
    )


async def recent_notifications(
    session: AsyncSession, channel: AlertChannel, limit: int = 20
) -> Sequence[Any]:
    return await NotificationDAO(session).recent_of(channel.id, limit)
