"""Customers' tiers, from billing's `billing.account.tier_changed`: a new ticket's plan tier.

The later change time wins, so a late or repeated event never undoes a newer one. A customer
billing never announced is on TICKETS_DEFAULT_PLAN_TIER. A tier change does not touch open
tickets: each keeps the tier and SLA it was opened with (its clocks already run on them).
"""

import uuid
from typing import Any

from loguru import logger
from sqlalchemy.ext.asyncio import AsyncSession

from berth_common.tiers import BadTierEvent, parse_change, record_change, tier_of
from berth_tickets.config import TicketsSettings
from berth_tickets.models import AccountTiers


async def tier_changed(session: AsyncSession, payload: dict[str, Any]) -> bool:
    """Record billing's word on a customer's tier; False for an older (or repeated) one."""
    try:
        change = parse_change(payload)
    except BadTierEvent as exc:
        logger.warning("billing.account.tier_changed ignored: {}", exc)
        return False
    if not await record_change(session, AccountTiers, change):
        logger.info("stale tier change for {} ignored", change.owner_id)
        return False
    return True


async def plan_tier_of(
    session: AsyncSession, settings: TicketsSettings, owner_id: uuid.UUID
) -> str:
    return await tier_of(session, AccountTiers, owner_id, default=settings.default_plan_tier)
