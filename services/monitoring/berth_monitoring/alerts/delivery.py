"""Delivering one notification to its channel: email, signed webhook, or Telegram.

Idempotent by its row: the notification is locked and only a `pending` one is sent, so a task
that runs twice after a success sends nothing twice. A transient failure (a timeout, a
connection error, a 5xx or a 429) is recorded on the row and retried with backoff; a 4xx or a
refused target is permanent and recorded on the row and in the incident's timeline. A worker
that dies after the receiver got the POST but before the commit sends it again: receivers
deduplicate on the `Berth-Event-Id` header (the notification's id).

Secrets (the signing secret, the bot token) never reach a log or `last_error`: errors keep the
exception's type and the HTTP status only (httpx puts URLs, and so Telegram's token, in its
messages).
"""

import json
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpcore
import httpx
from loguru import logger
from sqlalchemy.ext.asyncio import AsyncSession

from berth_common import signatures
from berth_monitoring import mail
from berth_monitoring.alerts.dao import ChannelDAO, NotificationDAO
from berth_monitoring.alerts.secrets import ChannelCipher
from berth_monitoring.config import MonitoringSettings
from berth_monitoring.enums import (
    ChannelKind,
    IncidentEventKind,
    NotificationEvent,
    NotificationStatus,
)
from berth_monitoring.models import AlertChannel, IncidentEvent, Notification
from berth_monitoring.targets import GuardedNetworkBackend, TargetPolicy, TargetRefused

EVENT_ID_HEADER = "Berth-Event-Id"
USER_AGENT = "Berth-Alerts/1.0"
TIMEOUT_SECONDS = 10.0
# a notification is tried this often (Celery retries with backoff in between), then failed
MAX_ATTEMPTS = 8


class Transient(Exception):
    """Worth another attempt later."""


class Permanent(Exception):
    """Another attempt would fail the same way."""


@dataclass(frozen=True)
class Outcome:
    status: str  # NotificationStatus, or "retry"
    error: str | None = None

    @property
    def retry(self) -> bool:
        return self.status == "retry"


class GuardedTransport(httpx.AsyncHTTPTransport):
    """httpx over GuardedNetworkBackend: connects only to addresses the policy judged, at the
    moment of the request (a webhook host that turned private since it was saved reaches
    nothing); no proxy from the environment, no redirects (the client follows none)."""

    def __init__(self, policy: TargetPolicy):
        super().__init__(trust_env=False)
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=httpx.create_ssl_context(trust_env=False),
            max_connections=10,
            network_backend=GuardedNetworkBackend(policy),
        )


def message_text(payload: dict[str, Any]) -> tuple[str, str, str]:
    """(summary, detail, url) of a notification, whoever produced it."""
    summary = " ".join(str(payload.get("summary") or "Berth alert").split())[:200]
    detail = str(payload.get("detail") or "")[:1000]
    if not detail and isinstance(payload.get("details"), dict):
        detail = ", ".join(f"{k}: {v}" for k, v in payload["details"].items())[:1000]
    return summary, detail, str(payload.get("url") or "")


def webhook_body(notification: Notification) -> bytes:
    body = {
        "id": str(notification.id),
        "type": f"{notification.subject_kind}.{notification.event}",
        "created": int(notification.created_at.timestamp()),
        "data": notification.payload,
    }
    return json.dumps(body, separators=(",", ":"), default=str).encode()


def _judge_response(response: httpx.Response) -> None:
    status = response.status_code
    if 200 <= status < 300:
        return
    if status in (408, 425, 429) or status >= 500:
        raise Transient(f"the receiver answered {status}")
    raise Permanent(f"the receiver answered {status}")


async def _post(client: httpx.AsyncClient, url: str, **kwargs: Any) -> None:
    try:
        response = await client.post(url, **kwargs)
    except TargetRefused as exc:
        raise Permanent(exc.reason) from None
    except (httpx.TimeoutException, httpcore.TimeoutException):
        raise Transient("the receiver did not answer in time") from None
    except (httpx.HTTPError, httpcore.NetworkError, OSError, ValueError) as exc:
        # ValueError: TargetUnresolvable (the name does not resolve now)
        raise Transient(f"no connection to the receiver ({type(exc).__name__})") from None
    _judge_response(response)


class Senders:
    """How each kind of channel is reached; tests build one over the run's settings."""

    def __init__(self, settings: MonitoringSettings, policy: TargetPolicy | None = None):
        self.settings = settings
        self.policy = policy or TargetPolicy.from_settings(settings)
        self.cipher = ChannelCipher.from_settings(settings)

    async def send(
        self, session: AsyncSession, channel: AlertChannel, notification: Notification
    ) -> str:
        """Deliver, or raise Transient / Permanent; returns a short note for the timeline."""
        if channel.kind == ChannelKind.EMAIL:
            return await self._email(session, channel, notification)
        if channel.kind == ChannelKind.WEBHOOK:
            return await self._webhook(channel, notification)
        if channel.kind == ChannelKind.TELEGRAM:
            return await self._telegram(channel, notification)
        raise Permanent(f"unknown channel kind {channel.kind}")

    async def _email(
        self, session: AsyncSession, channel: AlertChannel, notification: Notification
    ) -> str:
        summary, detail, url = message_text(notification.payload)
        await mail.queue_alert_email(
            session,
            self.settings,
            to_address=channel.target,
            context={
                "event": str(notification.event),
                "subject": summary,
                "headline": summary,
                "detail": detail,
                "link": url or self.settings.issuer,
            },
            notification_id=notification.id,
        )
        return "email queued"

    async def _webhook(self, channel: AlertChannel, notification: Notification) -> str:
        if channel.secret_encrypted is None:
            raise Permanent("the webhook has no signing secret")
        secret = self.cipher.decrypt(channel.secret_encrypted)
        body = webhook_body(notification)
        headers = {
            "Content-Type": "application/json",
            "User-Agent": USER_AGENT,
            signatures.SIGNATURE_HEADER: signatures.sign(secret.encode(), body, int(time.time())),
            EVENT_ID_HEADER: str(notification.id),
        }
        transport = GuardedTransport(self.policy)
        async with httpx.AsyncClient(
            transport=transport, timeout=TIMEOUT_SECONDS, follow_redirects=False
        ) as client:
            await _post(client, channel.target, content=body, headers=headers)
        return "webhook delivered"

    async def _telegram(self, channel: AlertChannel, notification: Notification) -> str:
        if channel.secret_encrypted is None:
            raise Permanent("the Telegram channel has no bot token")
        token = self.cipher.decrypt(channel.secret_encrypted)
        summary, detail, url = message_text(notification.payload)
        text = "\n".join(part for part in (summary, detail, url) if part)[:4000]
        # the Bot API's base URL is the operator's (MONITORING_TELEGRAM_API_URL), not a user's
        base = self.settings.telegram_api_url.rstrip("/")
        async with httpx.AsyncClient(timeout=TIMEOUT_SECONDS, follow_redirects=False) as client:
            await _post(
                client,
                f"{base}/bot{token}/sendMessage",
                json={
                    "chat_id": channel.target,
                    "text": text,
                    "disable_web_page_preview": True,
                },
                headers={"User-Agent": USER_AGENT},
            )
        return "Telegram message sent"


def _timeline(notification: Notification, kind: IncidentEventKind, detail: str) -> IncidentEvent:
    return IncidentEvent(
        incident_id=notification.incident_id,
        kind=kind,
        monitor_id=notification.subject_id,
        detail=detail[:500],
    )


async def deliver(
    session: AsyncSession,
    senders: Senders,
    notification_id: uuid.UUID,
    *,
    retry: bool = True,
) -> Outcome:
    """Send one pending notification once; `retry=False` (the test button) fails at once
    where a task would try again."""
    notifications = NotificationDAO(session)
    notification = await notifications.lock(notification_id)
    if notification is None:
        logger.warning("notification {} is gone (its channel was deleted)", notification_id)
        return Outcome(NotificationStatus.FAILED, "gone")
    if notification.status != NotificationStatus.PENDING:
        return Outcome(notification.status, notification.last_error)
    channel = await ChannelDAO(session).get(notification.channel_id)
    assert channel is not None  # the foreign key cascades
    attempts = notification.attempts + 1
    label = f"{channel.kind} channel {channel.name!r}"
    try:
        if not channel.is_enabled and notification.event != NotificationEvent.TEST:
            raise Permanent("the channel is disabled")
        note = await senders.send(session, channel, notification)
    except Transient as exc:
        error = str(exc)
        if retry and attempts < MAX_ATTEMPTS:
            await notifications.update(notification, attempts=attempts, last_error=error)
            logger.info("notification {} attempt {} failed: {}", notification.id, attempts, error)
            return Outcome("retry", error)
        return await _failed(session, notification, attempts, error, label)
    except Permanent as exc:
        return await _failed(session, notification, attempts, str(exc), label)
    await notifications.update(
        notification,
        attempts=attempts,
        status=NotificationStatus.SENT,
        sent_at=datetime.now(UTC),
        last_error=None,
    )
    if notification.incident_id is not None:
        session.add(_timeline(notification, IncidentEventKind.ALERT_SENT, f"{note}: {label}"))
        await session.flush()
    logger.info("notification {} sent ({})", notification.id, channel.kind)
    return Outcome(NotificationStatus.SENT)


async def _failed(
    session: AsyncSession, notification: Notification, attempts: int, error: str, label: str
) -> Outcome:
    await NotificationDAO(session).update(
        notification, attempts=attempts, status=NotificationStatus.FAILED, last_error=error[:500]
    )
    if notification.incident_id is not None:
        session.add(_timeline(notification, IncidentEventKind.ALERT_FAILED, f"{label}: {error}"))
        await session.flush()
    logger.warning("notification {} failed for good: {}", notification.id, error)
    return Outcome(NotificationStatus.FAILED, error)
