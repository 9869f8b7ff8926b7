"""A unique key a concurrent (or careless) request took first is a 409, never a 500.

The services check "exists already?" before writing, for a readable message; two requests can
still pass that check together, and a rename can collide with a row the check did not look
at. The write runs in a savepoint: a unique violation rolls back only the savepoint and
becomes the given Conflict; any other integrity error goes on as it was.
"""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from berth_common.errors import Conflict

UNIQUE_VIOLATION = "23505"


@asynccontextmanager
async def unique_or_conflict(session: AsyncSession, message: str) -> AsyncIterator[None]:
    try:
        async with session.begin_nested():
            yield
    except IntegrityError as exc:
        if getattr(exc.orig, "sqlstate", None) != UNIQUE_VIOLATION:
            raise
        raise Conflict(message) from None
