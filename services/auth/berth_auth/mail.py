"""Auth's emails: its templates and what a row records (berth_common.mail sends them).

Bodies that carry a one-time code are redacted once delivered, so no code rests in the DB.
"""

import uuid
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from berth_auth.accounts.dao import OutgoingEmailDAO
from berth_auth.config import AuthSettings
from berth_auth.enums import CodePurpose
from berth_auth.models import OutgoingEmail
from berth_auth.names import QUEUE
from berth_common.mail import Mailer, Templates

TEMPLATES = (*CodePurpose, "password_changed")
MAILER = Mailer(
    service=QUEUE,
    dao=OutgoingEmailDAO,
    templates=Templates("berth_auth", TEMPLATES),
    redact_after_send=frozenset(CodePurpose),
)


async def queue_email(
    session: AsyncSession,
    settings: AuthSettings,
    *,
    to: str,
    template: str,
    user_id: uuid.UUID | None,
    context: dict[str, Any],
) -> OutgoingEmail:
    """Store the rendered email and enqueue its delivery in the caller's transaction."""
    return await MAILER.queue(
        session, settings.issuer, template, context, to_address=to, user_id=user_id
    )
