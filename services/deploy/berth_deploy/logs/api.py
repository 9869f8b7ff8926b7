"""An app's build and run logs: history pages and a live stream (Server-Sent Events)."""

import re
import uuid
from typing import Annotated

from fastapi import Depends, Header, Query, Request
from fastapi.responses import StreamingResponse

from berth_common.db import SessionDep
from berth_common.errors import (
    BerthError,
    NotFound,
    RateLimited,
    Unprocessable,
    error_responses,
)
from berth_common.routing import user_router
from berth_common.security import CurrentUser, CurrentUserId
from berth_deploy.apps.service import get_app
from berth_deploy.deps import CipherDep, LogStoreDep, SettingsDep
from berth_deploy.enums import LogKind
from berth_deploy.logs import service
from berth_deploy.logs.schemas import LogPage
from berth_deploy.models import App

router = user_router(
    prefix="/api/deploy/v1/apps/{app_id}/logs",
    tags=["logs"],
    errors=(NotFound, Unprocessable),
)

Offset = Annotated[int, Query(ge=0, le=2**53, description="byte offset to read from")]
LimitBytes = Annotated[int, Query(ge=1024, le=1024 * 1024)]
ReleaseId = Annotated[uuid.UUID | None, Query(description="default: the latest release")]
MAX_RESUME_OFFSET = 2**53  # the same bound as `offset`
_RESUME_ID = re.compile(r"[0-9]{1,16}")


class InvalidResumeId(BerthError):
    status_code = 400
    code = "invalid_resume_id"


def resume_offset(
    last_event_id: Annotated[str | None, Header(alias="Last-Event-ID")] = None,
) -> int | None:
    """The byte offset a reconnecting stream resumes from (an event id we sent), checked
    before the stream starts: anything else is a 400, not a stream that breaks mid-way."""
    if not last_event_id:
        return None  # no event seen yet: start from `offset`
    if not _RESUME_ID.fullmatch(last_event_id) or int(last_event_id) > MAX_RESUME_OFFSET:
        raise InvalidResumeId(
            "Last-Event-ID must be an event id of this stream: a byte offset",
            details={"max": MAX_RESUME_OFFSET},
        )
    return int(last_event_id)


LastEventId = Annotated[int | None, Depends(resume_offset)]


async def history(
    session, store, cipher, app: App, release_id, kind, offset, limit_bytes
) -> LogPage:
    release = await service.resolve_release(session, app, release_id)
    return await service.read_page(session, store, cipher, app, release, kind, offset, limit_bytes)


async def live(
    request: Request,
    session,
    settings,
    viewer: str,
    store,
    cipher,
    app: App,
    release_id,
    kind,
    offset,
    last_event_id,
) -> StreamingResponse:
    release = await service.resolve_release(session, app, release_id)
    start = int(last_event_id) if last_event_id else offset
    claim = await service.claim_stream(session, settings, viewer, app.id)
    body = service.stream(
        request.app.state.db.sessionmaker, store, cipher, app.id, release.id, kind, start, claim
    )
    return StreamingResponse(
        body,
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


@router.get("", response_model=LogPage)
async def get_logs(
    app_id: uuid.UUID,
    owner: CurrentUserId,
    session: SessionDep,
    store: LogStoreDep,
    cipher: CipherDep,
    release_id: ReleaseId = None,
    kind: LogKind = LogKind.BUILD,
    offset: Offset = 0,
    limit_bytes: LimitBytes = 65536,
) -> LogPage:
    """Whole lines from `offset`; go on from `next_offset` (empty `lines`: nothing more yet)."""
    app = await get_app(session, app_id, owner)
    return await history(session, store, cipher, app, release_id, kind, offset, limit_bytes)


@router.get(
    "/stream",
    response_class=StreamingResponse,
    responses={
        200: {"content": {"text/event-stream": {}}},
        **error_responses(RateLimited, InvalidResumeId),
    },
)
async def stream_logs(
    request: Request,
    app_id: uuid.UUID,
    principal: CurrentUser,
    owner: CurrentUserId,
    session: SessionDep,
    settings: SettingsDep,
    store: LogStoreDep,
    cipher: CipherDep,
    release_id: ReleaseId = None,
    kind: LogKind = LogKind.BUILD,
    offset: Offset = 0,
    last_event_id: LastEventId = None,
) -> StreamingResponse:
    """Server-Sent Events, one per line; the event id is the byte offset after the line, so
    a reconnecting client (Last-Event-ID) misses nothing and sees nothing twice. At most
    DEPLOY_LOG_STREAMS_PER_USER streams per person are open at once: 429 beyond."""
    app = await get_app(session, app_id, owner)
    return await live(
        request,
        session,
        settings,
        principal.subject,
        store,
        cipher,
        app,
        release_id,
        kind,
        offset,
        last_event_id,
    )
