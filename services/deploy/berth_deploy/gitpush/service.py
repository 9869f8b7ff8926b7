"""Deploy tokens: the per-app credentials `git push` authenticates with.

A token is `bdt_` and 43 random URL-safe characters, shown once; only its SHA-256 and its
first characters (to tell tokens apart) are kept. A token opens exactly one app's
repository, and only while that app lives and the token is not revoked.
"""

import hashlib
import secrets
import uuid
from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncSession

from berth_common.errors import Conflict, NotFound
from berth_deploy.config import DeploySettings
from berth_deploy.gitpush.dao import DeployTokenDAO
from berth_deploy.gitpush.models import DeployToken
from berth_deploy.models import App

TOKEN_PREFIX = "bdt_"
SHOWN_CHARS = 12  # "bdt_" and 8 more: enough to tell tokens apart, far from enough to guess


class TooManyTokens(Conflict):
    code = "too_many_deploy_tokens"


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def remote_url(settings: DeploySettings, slug: str) -> str:
    return f"{settings.public_url.rstrip('/')}/git/{slug}.git"


async def create_token(
    session: AsyncSession, settings: DeploySettings, app: App, name: str, by: uuid.UUID
) -> tuple[DeployToken, str]:
    """A new token for the app, and the token itself (never stored, never shown again)."""
    dao = DeployTokenDAO(session)
    live = await dao.count_live(app.id)
    if live >= settings.deploy_tokens_per_app:
        raise TooManyTokens(
            f"An app may have {settings.deploy_tokens_per_app} deploy tokens: revoke one first",
            details={"limit": settings.deploy_tokens_per_app},
        )
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    row = await dao.create(
        app_id=app.id,
        name=name.strip() or "token",
        token_hash=token_hash(token),
        prefix=token[:SHOWN_CHARS],
        created_by=by,
    )
    return row, token


async def list_tokens(session: AsyncSession, app: App) -> list[DeployToken]:
    return await DeployTokenDAO(session).live_of_app(app.id)


async def revoke_token(session: AsyncSession, app: App, token_id: uuid.UUID) -> None:
    if not await DeployTokenDAO(session).revoke(app.id, token_id):
        raise NotFound("Deploy token not found")


async def authenticate(session: AsyncSession, slug: str, token: str) -> App | None:
    """The app `slug` names if `token` is one of its live tokens (its use noted), else None:
    a wrong token and an unknown app look the same to the caller."""
    if not token.startswith(TOKEN_PREFIX) or len(token) > 200:
        return None
    digest = token_hash(token)
    dao = DeployTokenDAO(session)
    app = await dao.app_for(slug, digest)
    if app is not None:
        await dao.touch(digest, datetime.now(UTC))
    return app
