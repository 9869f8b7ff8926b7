"""Billing's emails: its templates, and who a notice goes to (berth_common.mail sends them).

The address is resolved when sending (the account's, else auth's directory), so a notice
can be owed before billing ever learned the address.
"""

import uuid
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from berth_billing.accounts.dao import AccountDAO
from berth_billing.config import BillingSettings
from berth_billing.directory import Directory
from berth_billing.models import OutgoingEmail
from berth_billing.names import QUEUE
from berth_common import mail


class OutgoingEmailDAO(mail.OutgoingEmailDAO[OutgoingEmail]):
    model = OutgoingEmail


TEMPLATES = ("low_balance", "grace_warning", "suspended", "invoice_ready")
MAILER = mail.Mailer(
    service=QUEUE, dao=OutgoingEmailDAO, templates=mail.Templates("berth_billing", TEMPLATES)
)


async def queue_email(
    session: AsyncSession,
    settings: BillingSettings,
    *,
    account_id: uuid.UUID,
    template: str,
    context: dict[str, Any],
    notice_id: uuid.UUID | None = None,
) -> uuid.UUID:
    email = await MAILER.queue(
        session, settings.issuer, template, context, account_id=account_id, notice_id=notice_id
    )
    return email.id


async def send_outgoing_email(
    session: AsyncSession, settings: BillingSettings, directory: Directory, email_id: uuid.UUID
) -> str:
    """The send task's body: berth_common.mail's, with the recipient found as above."""

    async def recipient(email: OutgoingEmail) -> str | None:
        account = await AccountDAO(session).get(email.account_id)
        if account is None or account.email or account.owner_id is None:
            return account.email if account else None
        address = await directory.email_of(account.owner_id)
        if address:  # remembered on the account: the next notice needs no call to auth
            account.email = address
        return address

    return await MAILER.send(session, settings, email_id, recipient)
