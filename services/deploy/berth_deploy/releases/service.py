"""An app's releases: the one a deploy builds, its outcome, the ones pruned, the API's list.
The writes are each one short transaction (`fn(session, ...)`), run by the operation's job."""

import uuid
from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncSession

from berth_common.pagination import PageParams
from berth_deploy.enums import AppStatus, ReleaseStatus
from berth_deploy.instances.dao import InstanceDAO
from berth_deploy.models import App, Operation, Release
from berth_deploy.operations import schemas
from berth_deploy.operations.service import locked_app, set_status
from berth_deploy.releases.dao import ReleaseDAO


async def begin_build(
    session: AsyncSession, *, op_id: uuid.UUID, app_id: uuid.UUID
) -> tuple[uuid.UUID, int]:
    """The release this deploy builds: a new one, or the one a lost attempt left."""
    app = await locked_app(session, app_id)
    op = await session.get(Operation, op_id)
    assert op is not None
    releases = ReleaseDAO(session)
    release = await releases.get(op.release_id) if op.release_id else None
    if release is None:
        release = await releases.create(
            app_id=app.id,
            number=await releases.next_number(app.id),
            branch=app.branch,
            created_by=op.requested_by or app.owner_id,
            status=ReleaseStatus.BUILDING,
        )
        op.release_id = release.id
    release.status = ReleaseStatus.BUILDING
    release.error = None
    if app.status in (AppStatus.QUEUED, AppStatus.FAILED, AppStatus.STOPPED, AppStatus.CREATED):
        set_status(app, AppStatus.BUILDING)
    await session.flush()
    return release.id, release.number


async def release_built(
    session: AsyncSession, *, release_id: uuid.UUID, commit_sha: str | None
) -> None:
    release = await session.get(Release, release_id)
    assert release is not None
    release.status = ReleaseStatus.READY
    release.commit_sha = commit_sha
    release.built_at = datetime.now(UTC)


async def release_commit(session: AsyncSession, *, release_id: uuid.UUID, commit_sha: str) -> None:
    release = await session.get(Release, release_id)
    assert release is not None
    release.commit_sha = commit_sha


async def release_image(session: AsyncSession, *, release_id: uuid.UUID, digest: str) -> None:
    release = await session.get(Release, release_id)
    assert release is not None
    release.image_digest = digest


async def release_number(session: AsyncSession, *, release_id: uuid.UUID) -> int:
    release = await session.get(Release, release_id)
    assert release is not None
    return release.number


async def prune_releases(session: AsyncSession, *, app_id: uuid.UUID, keep: int) -> list[uuid.UUID]:
    """Releases beyond the newest `keep` built ones lose their files (the current one stays)."""
    app = await locked_app(session, app_id)
    in_use = {i.release_id for i in await InstanceDAO(session).live(app_id)}
    pruned = []
    for release in (await ReleaseDAO(session).ready(app_id))[keep:]:
        if release.id == app.current_release_id or release.id in in_use:
            continue
        release.status = ReleaseStatus.PRUNED
        pruned.append(release.id)
    return pruned


async def list_releases(
    session: AsyncSession, app: App, params: PageParams
) -> tuple[list[schemas.Release], int]:
    rows, total = await ReleaseDAO(session).list(params, Release.app_id == app.id)
    return [
        schemas.Release.model_validate(r).model_copy(
            update={"current": r.id == app.current_release_id}
        )
        for r in rows
    ], total
