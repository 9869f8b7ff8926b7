"""An account's service tier: admins set it, every change is recorded and announced.

- The tiers on offer are BILLING_ACCOUNT_TIERS; an account starts on `standard`.
- A change locks the account row, so two admins changing one account are recorded one after
  the other, each with its own from -> to.
- A change writes one `account_tier_changes` row and one `billing.account.tier_changed` event
  (through the outbox, in the same transaction); setting the tier an account already has
  changes nothing and announces nothing.
- The event's `changed_at` is the database's clock under that lock: consumers keep the change
  with the latest time, so a late or repeated delivery never undoes a newer one.
"""

import uuid

from loguru import logger
from sqlalchemy.ext.asyncio import AsyncSession

from berth_billing.accounts.service import existing_wallet, wallet_by_id
from berth_billing.config import BillingSettings
from berth_billing.models import Account
from berth_billing.names import Event
from berth_billing.tiers import schemas
from berth_billing.tiers.dao import TierChangeDAO
from berth_common.errors import Unprocessable
from berth_common.outbox import publish_event


class UnknownTier(Unprocessable):
    code = "unknown_tier"


async def tier_of_account(session: AsyncSession, account: Account) -> schemas.AccountTier:
    changed_at = await TierChangeDAO(session).last_change_at(account.id)
    return schemas.AccountTier(
        owner_id=account.owner_id,  # type: ignore[arg-type]  (wallets always have an owner)
        tier=account.tier,
        changed_at=changed_at or account.created_at,
    )


async def tier_of_owner(session: AsyncSession, owner_id: uuid.UUID) -> schemas.AccountTier:
    return await tier_of_account(session, await existing_wallet(session, owner_id))


async def set_tier(
    session: AsyncSession,
    settings: BillingSettings,
    account_id: uuid.UUID,
    body: schemas.TierUpdate,
    changed_by: str,
) -> schemas.TierChanged:
    if body.tier not in settings.account_tiers:
        raise UnknownTier(f"Unknown tier {body.tier!r}", details={"tiers": settings.account_tiers})
    account = await wallet_by_id(session, account_id)  # 404: a system account, nobody's
    # the row lock orders concurrent changes of one account (each sees the one before)
    await session.refresh(account, with_for_update=True)
    dao = TierChangeDAO(session)
    if account.tier == body.tier:
        current = await tier_of_account(session, account)
        return schemas.TierChanged(**current.model_dump(), account_id=account.id, changed=False)
    previous, at = account.tier, await dao.clock()
    account.tier = body.tier
    await dao.create(
        account_id=account.id,
        owner_id=account.owner_id,
        from_tier=previous,
        to_tier=body.tier,
        changed_by=changed_by,
        reason=body.reason,
        changed_at=at,
    )
    await publish_event(
        session,
        Event.ACCOUNT_TIER_CHANGED,
        {
            "owner_id": str(account.owner_id),
            "tier": body.tier,
            "previous_tier": previous,
            "changed_at": at.isoformat(),
            "changed_by": changed_by,
        },
    )
    logger.info("account {} tier {} -> {} by {}", account.id, previous, body.tier, changed_by)
    return schemas.TierChanged(
        owner_id=account.owner_id,  # type: ignore[arg-type]
        tier=body.tier,
        changed_at=at,
        account_id=account.id,
        changed=True,
    )
