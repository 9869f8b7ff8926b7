"""Push-to-deploy's table, in deploy's schema (registered on deploy's Base by models.py):
the per-app deploy tokens a `git push` authenticates with."""

import uuid
from datetime import datetime

from sqlalchemy import (
    DateTime,
    ForeignKey,
    Index,
    String,
)
from sqlalchemy.dialects.postgresql import UUID
from sqlalchemy.orm import Mapped, mapped_column

from berth_common.columns import now_timestamp, uuid_pk
from berth_deploy.models import Base


class DeployToken(Base):
    """A per-app token that `git push` authenticates with (HTTP basic, the token as password).

    Only its SHA-256 is kept; the token is shown once, when it is made.
    """

    __tablename__ = "deploy_tokens"
    __mapper_args__ = {"eager_defaults": True}
    __table_args__ = (Index("ix_deploy_tokens_app", "app_id", "created_at"),)

    id: Mapped[uuid.UUID] = uuid_pk()
    app_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("apps.id", ondelete="CASCADE"), nullable=False
    )
    name: Mapped[str] = mapped_column(String(80), nullable=False)
    token_hash: Mapped[str] = mapped_column(String(64), nullable=False, unique=True)
    # the first characters, so the owner can tell tokens apart
    prefix: Mapped[str] = mapped_column(String(16), nullable=False)
    created_by: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), nullable=False)
    created_at: Mapped[datetime] = now_timestamp()
    last_used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
