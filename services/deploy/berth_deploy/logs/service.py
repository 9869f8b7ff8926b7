"""Serving an app's logs: pages of history by byte offset, and a live SSE stream that resumes
from the last event id. Secret env values are scrubbed from every line served."""

import asyncio
import json
import time
import uuid
from collections.abc import AsyncIterator

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from berth_common.errors import NotFound, Unprocessable
from berth_deploy.env.service import EnvCipher, secret_values
from berth_deploy.logs.schemas import LogLineOut, LogPage
from berth_deploy.logs.store import LogStore, scrub, scrub_list
from berth_deploy.models import App, Instance, Release
from berth_deploy.operations.dao import ReleaseDAO
from berth_deploy.operations.lifecycle import LIVE_INSTANCE

KEEPALIVE_SECONDS = 15.0
POLL_SECONDS = 0.25
CHECK_SECONDS = 2.0
STREAM_MAX_SECONDS = 30 * 60  # then the client reconnects with Last-Event-ID
STREAM_CHUNK = 64 * 1024


async def resolve_release(session: AsyncSession, app: App, release_id: uuid.UUID | None) -> Release:
    releases = ReleaseDAO(session)
    release = (
        await releases.of_app(app.id, release_id)
        if release_id is not None
        else await releases.latest(app.id)
    )
    if release is None:
        raise NotFound("No such release" if release_id else "The app has no logs yet")
    return release


async def read_page(
    session: AsyncSession,
    store: LogStore,
    cipher: EnvCipher,
    app: App,
    release: Release,
    kind: str,
    offset: int,
    limit_bytes: int,
) -> LogPage:
    path = store.path(app.id, release.id, kind)
    size = store.size(path)
    if offset > size:
        raise Unprocessable("offset is past the end of the log", details={"size": size})
    lines, next_offset = store.read(path, offset, limit_bytes)
    secrets = scrub_list(await secret_values(session, cipher, app.id))
    return LogPage(
        release_id=release.id,
        kind=kind,
        offset=offset,
        next_offset=next_offset,
        size=size,
        lines=[LogLineOut(offset=line.end, text=scrub(line.text, secrets)) for line in lines],
    )


async def _still_writing(
    sessionmaker: async_sessionmaker[AsyncSession], release_id: uuid.UUID, kind: str
) -> bool:
    async with sessionmaker() as session:
        if kind == "build":
            release = await session.get(Release, release_id)
            return release is not None and release.status == "building"
        stmt = select(func.count()).where(
            Instance.release_id == release_id, Instance.status.in_(LIVE_INSTANCE)
        )
        return (await session.execute(stmt)).scalar_one() > 0


def _event(event_id: int, data: str) -> str:
    return f"id: {event_id}\ndata: {data}\n\n"


async def stream(
    sessionmaker: async_sessionmaker[AsyncSession],
    store: LogStore,
    cipher: EnvCipher,
    app_id: uuid.UUID,
    release_id: uuid.UUID,
    kind: str,
    offset: int,
) -> AsyncIterator[str]:
    """SSE: one event per line, id = byte offset after it; `end` once nothing more can come."""
    async with sessionmaker() as session:
        secrets = scrub_list(await secret_values(session, cipher, app_id))
    path = store.path(app_id, release_id, kind)
    yield "retry: 2000\n\n"
    started = last_sent = time.monotonic()
    checked = 0.0
    while time.monotonic() - started < STREAM_MAX_SECONDS:
        lines, offset = await asyncio.to_thread(store.read, path, offset, STREAM_CHUNK)
        for line in lines:
            yield _event(line.end, scrub(line.text, secrets))
        if lines:
            last_sent = time.monotonic()
            continue
        # idle: ask the database whether more can come, at most every CHECK_SECONDS
        if time.monotonic() - checked < CHECK_SECONDS:
            await asyncio.sleep(POLL_SECONDS)
            continue
        checked = time.monotonic()
        if not await _still_writing(sessionmaker, release_id, kind):
            lines, offset = await asyncio.to_thread(store.read, path, offset, STREAM_CHUNK)
            for line in lines:
                yield _event(line.end, scrub(line.text, secrets))
            if not lines:
                yield f"event: end\ndata: {json.dumps({'offset': offset})}\n\n"
                return
            continue
        if time.monotonic() - last_sent > KEEPALIVE_SECONDS:
            yield ": keepalive\n\n"
            last_sent = time.monotonic()
        await asyncio.sleep(POLL_SECONDS)
