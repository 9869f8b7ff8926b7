"""An account's service tier, as billing announces it (`billing.account.tier_changed`).

Billing owns the tier (`billing.accounts.tier`); services that act on it (chat's retention,
tickets' SLA) keep their own copy in an `account_tiers` table of their schema, fed by the
event. Events may arrive out of order or twice: a row only moves to an event whose
`changed_at` is later than the one it holds, in one statement (no read-then-write race).
An owner with no row has never been announced: they are on DEFAULT_TIER, where every account
starts (billing announces changes, not the start).
"""

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

from sqlalchemy import Column, DateTime, MetaData, String, Table, func, select
from sqlalchemy.dialects.postgresql import UUID
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

ACCOUNT_TIER_CHANGED: Final = "billing.account.tier_changed"
#: a tier is a short slug: lower-case letters, digits and dashes
TIER_PATTERN: Final = r"^[a-z][a-z0-9-]{0,31}$"
TIER_MAX_CHARS: Final = 32
TABLE: Final = "account_tiers"
#: the tier every account starts on (billing's column default)
DEFAULT_TIER: Final = "standard"


def add_account_tiers_table(metadata: MetaData) -> None:
    """Declare `account_tiers` (owner -> tier, as of billing's change time) in the schema."""
    Table(
        TABLE,
        metadata,
        Column("owner_id", UUID(as_uuid=True), primary_key=True),
        Column("tier", String(TIER_MAX_CHARS), nullable=False),
        # billing's time of the change: the later one wins
        Column("changed_at", DateTime(timezone=True), nullable=False),
        Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    )


def tiers_table(metadata: MetaData, schema: str) -> Table:
    return metadata.tables[f"{schema}.{TABLE}"]


@dataclass(frozen=True, slots=True)
class TierChange:
    owner_id: uuid.UUID
    tier: str
    changed_at: datetime


class BadTierEvent(ValueError):
    """A payload without an owner, a tier or an aware change time: nothing to record."""


def parse_change(payload: dict[str, Any]) -> TierChange:
    try:
        owner_id = uuid.UUID(str(payload["owner_id"]))
        tier = str(payload["tier"])
        changed_at = datetime.fromisoformat(str(payload["changed_at"]))
    except (KeyError, ValueError) as exc:
        raise BadTierEvent(f"not a tier change: {exc}") from exc
    if not tier or len(tier) > TIER_MAX_CHARS or changed_at.tzinfo is None:
        raise BadTierEvent("not a tier change: bad tier or naive time")
    return TierChange(owner_id, tier, changed_at)


async def record_change(session: AsyncSession, table: Table, change: TierChange) -> bool:
    """Keep billing's latest word; False when this change is not newer than the one held."""
    stmt = (
        pg_insert(table)
        .values(owner_id=change.owner_id, tier=change.tier, changed_at=change.changed_at)
        .on_conflict_do_update(
            index_elements=[table.c.owner_id],
            set_={"tier": change.tier, "changed_at": change.changed_at, "updated_at": func.now()},
            where=table.c.changed_at < change.changed_at,
        )
        .returning(table.c.owner_id)
    )
    return (await session.execute(stmt)).first() is not None


async def tier_of(
    session: AsyncSession, table: Table, owner_id: uuid.UUID, default: str = DEFAULT_TIER
) -> str:
    """The owner's tier as last announced, `default` if billing never announced one."""
    stmt = select(table.c.tier).where(table.c.owner_id == owner_id)
    return (await session.execute(stmt)).scalar_one_or_none() or default
