"""Forge webhooks: the app's signing secret, and taking a delivery.

A delivery is checked before anything is stored or parsed: the app must exist and have a
secret (else 404, the same answer whatever was wrong with the id), the forge's proof must
hold (else 401), and it must not be stale (401). Only then is its delivery id taken (once per
app and forge: a redelivery answers with the first outcome and deploys nothing), its body
read, and each branch event it reports handed to autodeploy.router.
"""

import json
import secrets
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime

from loguru import logger
from sqlalchemy import func
from sqlalchemy.ext.asyncio import AsyncSession

from berth_common.errors import BerthError, Conflict, NotFound, Unauthorized
from berth_deploy.apps.dao import AppDAO
from berth_deploy.autodeploy.events import BranchEvent, Outcome, Routed
from berth_deploy.autodeploy.router import on_branch_event
from berth_deploy.config import DeploySettings
from berth_deploy.enums import AppStatus, Forge
from berth_deploy.env.service import EnvCipher
from berth_deploy.models import App
from berth_deploy.webhooks import forges
from berth_deploy.webhooks.dao import WebhookDeliveryDAO
from berth_deploy.webhooks.models import WebhookDelivery

HOOKS_PATH = "/api/deploy/v1/hooks"
_UNKNOWN_SECRET = secrets.token_urlsafe(32)  # what an unknown app's HMAC is computed with
# what counts most when one delivery reports several branches (Bitbucket pushes do)
_RANK = [
    Outcome.DEPLOYED,
    Outcome.PREVIEW,
    Outcome.PREVIEW_REMOVED,
    Outcome.NOT_DEPLOYABLE,
    Outcome.ALREADY_DEPLOYED,
    Outcome.DISABLED,
    Outcome.IGNORED,
]


class HookNotFound(NotFound):
    """No such app, a malformed id, an app without a webhook secret, an unknown forge: one
    answer for all, with no detail."""


class BadSignature(Unauthorized):
    code = "invalid_signature"

    def __init__(self, message: str = "The webhook's signature does not verify") -> None:
        super().__init__(message, error="invalid_request")


class StaleDelivery(BadSignature):
    code = "stale_delivery"


class BadDelivery(BerthError):
    status_code = 400
    code = "bad_delivery"


class PayloadTooLarge(BerthError):
    status_code = 413
    code = "payload_too_large"


@dataclass(frozen=True)
class Ack:
    outcome: str
    operation_id: uuid.UUID | None = None
    duplicate: bool = False


@dataclass(frozen=True)
class NewSecret:
    secret: str
    set_at: datetime


def hook_urls(settings: DeploySettings, app_id: uuid.UUID) -> dict[str, str]:
    base = settings.public_url.rstrip("/")
    return {forge.value: f"{base}{HOOKS_PATH}/{app_id}/{forge.value}" for forge in Forge}


async def make_secret(session: AsyncSession, cipher: EnvCipher, app: App) -> NewSecret:
    """A new signing secret replaces the app's old one at once (rotation); shown once."""
    if app.status in (AppStatus.DELETING, AppStatus.DELETED):
        raise Conflict("The app is being deleted", code="illegal_transition")
    if app.parent_app_id is not None:
        raise Conflict("A preview app follows its parent app's webhooks", code="preview_app")
    secret = secrets.token_urlsafe(32)
    await AppDAO(session).update(
        app, webhook_secret_encrypted=cipher.encrypt(secret), webhook_secret_set_at=func.now()
    )
    await session.refresh(app)
    return NewSecret(secret, app.webhook_secret_set_at)


async def remove_secret(session: AsyncSession, app: App) -> None:
    if app.webhook_secret_encrypted is None:
        raise NotFound("The app has no webhook secret")
    await AppDAO(session).update(app, webhook_secret_encrypted=None, webhook_secret_set_at=None)


async def recent_deliveries(session: AsyncSession, app_id: uuid.UUID) -> list[WebhookDelivery]:
    return await WebhookDeliveryDAO(session).recent(app_id)


async def _hooked_app(
    session: AsyncSession, cipher: EnvCipher, app_id: str, forge: str
) -> tuple[App | None, Forge, str]:
    """The app a hook URL names and its secret; (None, GitHub, a random secret) for anything
    not a hooked app, so the caller spends the same work on it."""
    try:
        parsed_id, parsed_forge = uuid.UUID(app_id), Forge(forge)
    except ValueError:
        return None, Forge.GITHUB, _UNKNOWN_SECRET
    app = await AppDAO(session).visible(parsed_id, None)
    if app is None or app.webhook_secret_encrypted is None or app.parent_app_id is not None:
        return None, parsed_forge, _UNKNOWN_SECRET
    return app, parsed_forge, cipher.decrypt(app.webhook_secret_encrypted)


def _stale(at: datetime | None, max_age: timedelta, now: datetime) -> bool:
    return at is not None and abs(now - at) > max_age


def _date_header(headers: Mapping[str, str]) -> datetime | None:
    """A `Date` header's time (unsigned: it can only make a delivery stale, never fresh)."""
    value = headers.get("date")
    if not value:
        return None
    try:
        parsed = parsedate_to_datetime(value)
    except (TypeError, ValueError, OverflowError):
        raise BadDelivery("The Date header is not an HTTP date") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


async def receive(
    session: AsyncSession,
    settings: DeploySettings,
    cipher: EnvCipher,
    app_id: str,
    forge_name: str,
    headers: Mapping[str, str],
    body: bytes,
) -> Ack:
    """Check, take and act on one delivery (`headers` with lower-case names)."""
    app, forge, secret = await _hooked_app(session, cipher, app_id, forge_name)
    verified = forges.verify(forge, headers, body, secret)
    if app is None:
        raise HookNotFound("Not found")
    if not verified:
        raise BadSignature()
    max_age, now = timedelta(seconds=settings.webhook_max_age_seconds), datetime.now(UTC)
    if _stale(_date_header(headers), max_age, now):
        raise StaleDelivery("The webhook delivery is too old (its Date header)")
    meta = forges.delivery(forge, headers)
    if not meta.delivery_id or len(meta.delivery_id) > 200:
        raise BadDelivery("The delivery has no usable delivery id header")
    try:
        payload = json.loads(body)
    except (ValueError, RecursionError):  # RecursionError: nested past the parser's depth
        raise BadDelivery("The delivery's body is not JSON (send application/json)") from None
    parsed = forges.parse(forge, meta.event, payload)
    if _stale(parsed.signed_at, max_age, now):
        raise StaleDelivery("The webhook delivery is too old (the push time it carries)")
    return await _take(session, settings, app, forge, meta, parsed)


async def _replayed(dao: WebhookDeliveryDAO, app: App, event: BranchEvent) -> bool:
    """A push of the app's branch to a commit an earlier delivery deployed: the same body sent
    again under a fresh delivery id (not signed). Redeploying it is the panel's button."""
    return (
        event.branch == app.branch
        and event.commit_sha is not None
        and await dao.deployed_before(app.id, event.branch, event.commit_sha)
    )


async def _take(
    session: AsyncSession,
    settings: DeploySettings,
    app: App,
    forge: Forge,
    meta: forges.Delivery,
    parsed: forges.Parsed,
) -> Ack:
    dao = WebhookDeliveryDAO(session)
    taken = await dao.take(app.id, forge, meta.delivery_id or "", meta.event or "unknown")
    if taken is None:
        first = await dao.taken(app.id, forge, meta.delivery_id or "")
        return Ack(first.outcome if first else "pending", first and first.operation_id, True)
    if parsed.kind != "events":
        await dao.settle(taken, outcome=parsed.kind if parsed.kind == forges.PING else "ignored")
        return Ack(parsed.kind if parsed.kind == forges.PING else "ignored")
    results = []
    for event in parsed.events:
        if event.pull_request is not None and event.branch == app.branch:
            continue  # the tracked branch deploys from its pushes, never from a pull request
        if await _replayed(dao, app, event):
            results.append((event, Routed(Outcome.ALREADY_DEPLOYED)))
            continue
        results.append((event, await on_branch_event(session, settings, app, event)))
    best = min(results, key=lambda r: _RANK.index(r[1].outcome), default=None)
    routed = best[1] if best else Routed(Outcome.IGNORED)
    event = best[0] if best else None
    await dao.settle(
        taken,
        outcome=routed.outcome,
        operation_id=routed.operation_id,
        branch=event.branch if event else None,
        commit_sha=event.commit_sha if event else None,
    )
    logger.bind(app_id=str(app.id)).info(
        "webhook {} delivery {}: {}", forge, meta.delivery_id, routed.outcome
    )
    return Ack(routed.outcome, routed.operation_id)
