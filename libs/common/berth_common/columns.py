"""The columns every service's tables repeat: a server-made UUID key and timestamps.

Each is a function so that every model gets its own Column; the DDL is what the services'
initial migrations already create (`gen_random_uuid()`, `now()`, timestamptz NOT NULL).
"""

import uuid
from datetime import datetime

from sqlalchemy import DateTime, func, text
from sqlalchemy.dialects.postgresql import UUID
from sqlalchemy.orm import Mapped, mapped_column


def uuid_pk() -> Mapped[uuid.UUID]:
    """A UUID primary key the database fills in (`gen_random_uuid()` is core PostgreSQL)."""
    return mapped_column(
        UUID(as_uuid=True), primary_key=True, server_default=text("gen_random_uuid()")
    )


def now_timestamp() -> Mapped[datetime]:
    """A moment the database sets to `now()` when the row is written (created_at and kin)."""
    return mapped_column(DateTime(timezone=True), server_default=func.now(), nullable=False)


def touched_timestamp() -> Mapped[datetime]:
    """`now()` on insert and again on every ORM update of the row (updated_at)."""
    return mapped_column(
        DateTime(timezone=True), server_default=func.now(), onupdate=func.now(), nullable=False
    )
