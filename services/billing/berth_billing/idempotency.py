"""`Idempotency-Key` on mutating calls: the key, the request's fingerprint and the answer are
kept in the same transaction as the work, so a retried call gets the first answer back.

A concurrent duplicate blocks on the key's unique index until the first call commits, then
replays its answer; a call that failed (rolled back) left no key, so its retry runs again.
"""

import hashlib
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Annotated, Any

from fastapi import Header, Request
from fastapi.encoders import jsonable_encoder
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncSession

from berth_billing.dao import IdempotencyKeyDAO
from berth_common.errors import BerthError, Conflict

IdempotencyHeader = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        min_length=8,
        max_length=255,
        pattern=r"^[A-Za-z0-9._:-]+$",
        description="A unique key per intended operation; a retry with it gets the first answer",
    ),
]


class IdempotencyKeyReused(BerthError):
    status_code = 422
    code = "idempotency_key_reused"


class IdempotencyKeyRequired(BerthError):
    status_code = 400
    code = "idempotency_key_required"


@dataclass(frozen=True)
class StoredAnswer:
    status_code: int
    body: Any


def fingerprint(method: str, path: str, body: Any) -> str:
    canonical = json.dumps([method.upper(), path, body], sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


async def begin(
    session: AsyncSession, principal: str, key: str, request_fingerprint: str
) -> StoredAnswer | None:
    """None: go ahead (the key is now held by this transaction); else the stored answer."""
    keys = IdempotencyKeyDAO(session)
    if await keys.claim(principal, key, request_fingerprint):
        return None
    row = await keys.get_by(principal=principal, key=key)
    if row.fingerprint != request_fingerprint:
        raise IdempotencyKeyReused(
            "This Idempotency-Key was used with a different request; use a new key"
        )
    if row.status_code is None:
        raise Conflict("A request with this Idempotency-Key is still in progress")
    return StoredAnswer(row.status_code, row.response)


async def finish(
    session: AsyncSession, principal: str, key: str, status_code: int, body: Any
) -> None:
    await IdempotencyKeyDAO(session).store_answer(principal, key, status_code, body)


async def once(
    session: AsyncSession,
    *,
    scope: str,
    key: str | None,
    request: Request,
    body: BaseModel,
    work: Callable[[], Awaitable[Any]],
    status_code: int = 201,
) -> JSONResponse:
    """Run `work` once per (scope, key): its answer is kept with the work and replayed to a
    retry with the same key and request. Without a key the work simply runs."""
    if key:
        request_fingerprint = fingerprint(request.method, request.url.path, body.model_dump())
        stored = await begin(session, scope, key, request_fingerprint)
        if stored is not None:
            return JSONResponse(stored.body, status_code=stored.status_code)
    out = jsonable_encoder(await work())
    if key:
        await finish(session, scope, key, status_code, out)
    return JSONResponse(out, status_code=status_code)


KEEP_FOR = timedelta(days=7)


async def purge_expired(session: AsyncSession) -> int:
    """Keys older than a week answer nothing any more: a retry that late is a new request."""
    return await IdempotencyKeyDAO(session).purge_older_than(KEEP_FOR)
