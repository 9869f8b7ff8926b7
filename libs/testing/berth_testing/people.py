"""People and rows for the services' in-process tests: a signed-in person with a token minted
by the run's signing key, and a raw SQL helper for seeding and inspecting."""

import os
import uuid

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from berth_testing.oauth import bearer, mint_access_token


class Person:
    """A signed-in person as a service sees them: a fresh user id, roles and a token."""

    def __init__(self, signing_jwks: dict, roles: list[str] | None = None):
        self.id = uuid.uuid4()
        self.token = mint_access_token(
            signing_jwks,
            issuer=os.environ["BERTH_PUBLIC_URL"],
            subject=str(self.id),
            roles=roles or ["user"],
        )
        self.headers = bearer(self.token)


async def sql(db: async_sessionmaker[AsyncSession], statement: str, **params) -> list:
    """Run one statement in its own transaction; its rows (as tuples), if it returns any."""
    async with db() as session, session.begin():
        result = await session.execute(text(statement), params)
        return list(result.all()) if result.returns_rows else []
