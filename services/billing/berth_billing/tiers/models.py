"""Every change of an account's tier: who, when, from, to (append-only, never updated)."""

import uuid
from datetime import datetime

from sqlalchemy import ForeignKey, Index, String
from sqlalchemy.dialects.postgresql import UUID
from sqlalchemy.orm import Mapped, mapped_column

from berth_billing.models import Base
from berth_common.columns import now_timestamp, uuid_pk


class AccountTierChange(Base):
    __tablename__ = "account_tier_changes"
    __table_args__ = (Index("ix_account_tier_changes_account", "account_id", "changed_at"),)

    id: Mapped[uuid.UUID] = uuid_pk()
    account_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("accounts.id"), nullable=False)
    owner_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), nullable=False)
    from_tier: Mapped[str] = mapped_column(String(32), nullable=False)
    to_tier: Mapped[str] = mapped_column(String(32), nullable=False)
    # "admin:<id>", as on ledger transactions
    changed_by: Mapped[str] = mapped_column(String(120), nullable=False)
    reason: Mapped[str] = mapped_column(String(500), nullable=False, server_default="")
    changed_at: Mapped[datetime] = now_timestamp()
