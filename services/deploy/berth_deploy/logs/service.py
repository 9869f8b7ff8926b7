"""Serving an app's logs: pages of history by byte offset, and a live SSE stream that resumes
from the last event id. Secret env values are scrubbed from every line served.

A live stream holds a claim (a `log_streams` row) while it runs: one person holds at most
DEPLOY_LOG_STREAMS_PER_USER at once, whichever web process serves them; more is a 429.
"""

import asyncio
import json
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta

import anyio
from loguru import logger
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from berth_common.errors import NotFound, RateLimited, Unprocessable
from berth_deploy.config import DeploySettings
from berth_deploy.enums import LogKind, ReleaseStatus
from berth_deploy.env.service import EnvCipher, secret_values
from berth_deploy.instances.dao import InstanceDAO
from berth_deploy.logs.dao import LogStreamDAO
from berth_deploy.logs.schemas import LogLine, LogPage
from berth_deploy.logs.store import LogStore, scrub, scrub_list
from berth_deploy.models import App, Release
from berth_deploy.releases.dao import ReleaseDAO

KEEPALIVE_SECONDS = 15.0
POLL_SECONDS = 0.25
CHECK_SECONDS = 2.0
STREAM_MAX_SECONDS = 30 * 60  # then the client reconnects with Last-Event-ID
STREAM_CHUNK = 64 * 1024
STREAM_RETRY_SECONDS = 5


class TooManyLogStreams(RateLimited):
    code = "too_many_log_streams"

    def __init__(self, limit: int, open_now: int):
        super().__init__(
            f"At most {limit} live log streams can be open at once; close one and retry",
            retry_after=STREAM_RETRY_SECONDS,
        )
        self.details = {"limit": limit, "open": open_now, "retry_after": STREAM_RETRY_SECONDS}


@dataclass(frozen=True)
class StreamClaim:
    id: uuid.UUID
    lease: timedelta


async def claim_stream(
    session: AsyncSession, settings: DeploySettings, viewer: str, app_id: uuid.UUID
) -> StreamClaim:
    """A place among the viewer's open streams, or TooManyLogStreams."""
    dao = LogStreamDAO(session)
    await dao.lock_viewer(viewer)
    await dao.purge_expired()
    open_now = await dao.open_count(viewer)
    if open_now >= settings.log_streams_per_user:
        raise TooManyLogStreams(settings.log_streams_per_user, open_now)
    lease = timedelta(seconds=settings.log_stream_lease_seconds)
    return StreamClaim(await dao.open(viewer, app_id, lease), lease)


async def _renew(sessionmaker: async_sessionmaker[AsyncSession], claim: StreamClaim) -> bool:
    # edge: a stream outlives its request's session, so its lease commits on its own
    async with sessionmaker() as session, session.begin():
        return await LogStreamDAO(session).renew(claim.id, claim.lease)


async def _release(sessionmaker: async_sessionmaker[AsyncSession], claim: StreamClaim) -> None:
    try:
        with anyio.CancelScope(shield=True):  # runs while the disconnected request is cancelled
            # edge: the stream's lease is let go after its request's session is gone
            async with sessionmaker() as session, session.begin():
                await LogStreamDAO(session).close(claim.id)
    except Exception as exc:  # the claim lapses on its own
        logger.warning("log stream claim not released: {}", type(exc).__name__)


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
    kind: LogKind,
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
        lines=[LogLine(offset=line.end, text=scrub(line.text, secrets)) for line in lines],
    )


async def _still_writing(
    sessionmaker: async_sessionmaker[AsyncSession], release_id: uuid.UUID, kind: LogKind
) -> bool:
    async with sessionmaker() as session:
        if kind == LogKind.BUILD:
            release = await session.get(Release, release_id)
            return release is not None and release.status == ReleaseStatus.BUILDING
        return await InstanceDAO(session).release_has_live(release_id)


def _event(event_id: int, data: str) -> str:
    return f"id: {event_id}\ndata: {data}\n\n"


async def stream(
    sessionmaker: async_sessionmaker[AsyncSession],
    store: LogStore,
    cipher: EnvCipher,
    app_id: uuid.UUID,
    release_id: uuid.UUID,
    kind: LogKind,
    offset: int,
    claim: StreamClaim,
) -> AsyncIterator[str]:
    """SSE: one event per line, id = byte offset after it; `end` once nothing more can come.
    The viewer's claim is renewed while it runs and released when it ends, however it ends."""
    try:
        async for event in _events(
            sessionmaker, store, cipher, app_id, release_id, kind, offset, claim
        ):
            yield event
    finally:
        await _release(sessionmaker, claim)


async def _events(
    sessionmaker: async_sessionmaker[AsyncSession],
    store: LogStore,
    cipher: EnvCipher,
    app_id: uuid.UUID,
    release_id: uuid.UUID,
    kind: LogKind,
    offset: int,
    claim: StreamClaim,
) -> AsyncIterator[str]:
    async with sessionmaker() as session:
        secrets = scrub_list(await secret_values(session, cipher, app_id))
    path = store.path(app_id, release_id, kind)
    yield "retry: 2000\n\n"
    started = last_sent = renewed = time.monotonic()
    checked = 0.0
    while time.monotonic() - started < STREAM_MAX_SECONDS:
        if time.monotonic() - renewed > claim.lease.total_seconds() / 3:
            if not await _renew(sessionmaker, claim):
                return  # the claim lapsed (a stall): the client reconnects and claims anew
            renewed = time.monotonic()
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
