"""Retention per tier: a customer's messages are kept as many days as their tier says.

- Tiers come from billing's `billing.account.tier_changed` events, kept in `account_tiers`;
  a late or repeated event never undoes a newer one (the later change time wins).
- A customer billing never moved is on `standard`; a tier missing from
  CHAT_RETENTION_DAYS_BY_TIER keeps messages CHAT_RETENTION_DAYS.
- The hourly purge deletes, per group of tiers with the same days, messages older than that
  many days, in batches that are transactions of their own.
- A move to a shorter tier deletes the older messages at the next purge; to a longer one,
  keeps what is still there (what was deleted is gone).
"""

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from loguru import logger
from sqlalchemy.ext.asyncio import AsyncSession

from berth_chat.config import ChatSettings
from berth_chat.retention.dao import PURGE_BATCH, RetentionDAO
from berth_common.tiers import BadTierEvent, parse_change


@dataclass(frozen=True, slots=True)
class RetentionGroup:
    days: int
    tiers: tuple[str, ...]  # the tiers kept `days`; empty: every tier not named in the map
    other_than: tuple[str, ...] = ()


def groups(settings: ChatSettings) -> list[RetentionGroup]:
    by_days: dict[int, list[str]] = {}
    for tier, days in settings.retention_days_by_tier.items():
        by_days.setdefault(days, []).append(tier)
    found = [RetentionGroup(days, tuple(sorted(tiers))) for days, tiers in sorted(by_days.items())]
    named = tuple(sorted(settings.retention_days_by_tier))
    found.append(RetentionGroup(settings.retention_days, (), other_than=named or ("",)))
    return found


async def tier_changed(session: AsyncSession, payload: dict[str, Any]) -> bool:
    """Record billing's word on a customer's tier; False for an older (or repeated) one."""
    try:
        change = parse_change(payload)
    except BadTierEvent as exc:
        logger.warning("billing.account.tier_changed ignored: {}", exc)
        return False
    if not await RetentionDAO(session).record_tier(change):
        logger.info("stale tier change for {} ignored", change.owner_id)
        return False
    return True


@dataclass(frozen=True, slots=True)
class Retention:
    tier: str
    days: int


async def retention_of(
    session: AsyncSession, settings: ChatSettings, customer_id: uuid.UUID
) -> Retention:
    tier = await RetentionDAO(session).tier_of(customer_id)
    return Retention(tier, settings.retention_of(tier))


Transaction = Callable[..., Awaitable[Any]]


async def _batch(session: AsyncSession, group: RetentionGroup, cutoff: datetime) -> int:
    return await RetentionDAO(session).purge(cutoff, tiers=group.tiers, other_than=group.other_than)


async def purge(in_transaction: Transaction, settings: ChatSettings, now: datetime) -> int:
    """Every group's old messages, batch by batch (each its own transaction, so a long purge
    holds no lock for long and a worker that dies keeps what it deleted); returns how many."""
    total = 0
    for group in groups(settings):
        cutoff = now - timedelta(days=group.days)
        while True:
            deleted = await in_transaction(_batch, group=group, cutoff=cutoff)
            total += deleted
            if deleted < PURGE_BATCH:
                break
    if total:
        logger.info("retention deleted {} messages", total)
    return total
