"""Preview apps: one per branch (or pull request) of an app with previews on, at
`<slug>--<branch>.apps…`, billed to the same owner, removed with its branch or when idle.

A preview is an app of its own (owner, template, limits, commands, repository and env vars
copied from its parent when it is made; the normal app endpoints work on it) with
`parent_app_id` and `preview_branch` set. It follows nothing itself: its parent's branch
events deploy or delete it. Previews do not count against the owner's app quota (they would
crowd out real apps); they are capped per parent instead (DEPLOY_PREVIEWS_PER_APP), and the
owner pays for their instances through the normal metering like any app's.

Making one locks the parent row: concurrent events for one parent are handled in turn, so the
cap holds and two events for one new branch make one preview (the unique index on live
previews per parent and branch backs it).
"""

import uuid

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from berth_common.errors import BerthError, Conflict, NotFound, Unprocessable
from berth_deploy.apps.dao import AppDAO
from berth_deploy.autodeploy.events import BranchEvent, Outcome, Routed
from berth_deploy.config import DeploySettings
from berth_deploy.enums import (
    AppStatus,
    OperationKind,
    OperationOrigin,
    OperationTrigger,
    SourceKind,
)
from berth_deploy.env.dao import EnvVarDAO
from berth_deploy.env.service import EnvCipher
from berth_deploy.models import App, Operation
from berth_deploy.operations.cause import DeployCause
from berth_deploy.operations.lifecycle import AppSuspended
from berth_deploy.operations.service import request_operation
from berth_deploy.previews.dao import GONE, PreviewDAO
from berth_deploy.previews.slugs import preview_slug
from berth_deploy.templates.dao import TemplateDAO
from berth_deploy.validation import branch_problem

NAME_MAX = 80


class PreviewLimitReached(Conflict):
    code = "preview_limit"


class PreviewBusy(Conflict):
    code = "preview_busy"


class NotPreviewable(Unprocessable):
    code = "not_previewable"


async def branch_pushed(
    session: AsyncSession, settings: DeploySettings, parent: App, event: BranchEvent
) -> Routed:
    """Make the branch's preview app (or find it) and deploy event.commit_sha on it.

    IGNORED (with the reason) when no preview can be made for it: the cap is reached, the
    branch name cannot be built, the app installs from a registry; NOT_DEPLOYABLE when the
    preview exists but may not deploy now (its owner suspended, it is being removed)."""
    try:
        preview = await preview_for_branch(session, settings, parent, event.branch)
    except (PreviewBusy, AppSuspended) as exc:
        return Routed(Outcome.NOT_DEPLOYABLE, reason=exc.message)
    except (PreviewLimitReached, NotPreviewable) as exc:
        return Routed(Outcome.IGNORED, reason=exc.message)
    try:
        op = await request_operation(
            session,
            preview.id,
            OperationKind.DEPLOY,
            requested_by=None,
            origin=OperationOrigin.USER,
            cause=event.cause(OperationTrigger.PREVIEW),
        )
    except Conflict as exc:  # the account is suspended, or the preview is
        return Routed(Outcome.NOT_DEPLOYABLE, preview.id, reason=exc.message)
    return Routed(Outcome.PREVIEW, preview.id, op.id)


async def branch_deleted(
    session: AsyncSession, settings: DeploySettings, parent: App, event: BranchEvent
) -> Routed:
    """Delete the branch's preview app, if it has one."""
    preview = await PreviewDAO(session).of_branch(parent.id, event.branch)
    if preview is None or preview.status in GONE:
        return Routed(Outcome.IGNORED)
    op = await _delete(session, preview, None, "its branch was deleted")
    return Routed(Outcome.PREVIEW_REMOVED, preview.id, op.id)


async def preview_for_branch(
    session: AsyncSession, settings: DeploySettings, parent: App, branch: str
) -> App:
    """The branch's live preview of `parent`, made if it has none (404, 409, 422 otherwise)."""
    parent = await _previewable(session, parent.id, branch)
    dao = PreviewDAO(session)
    found = await dao.of_branch(parent.id, branch)
    if found is not None:
        if found.status in GONE:
            raise PreviewBusy(
                f"The preview of {branch!r} is still being removed; push again once it is gone"
            )
        return found
    count = await dao.count_live(parent.id)
    if count >= settings.previews_per_app:
        raise PreviewLimitReached(
            f"{parent.slug} already has {count} previews, the most an app may have: delete one "
            f"to preview {branch!r}",
            details={"limit": settings.previews_per_app, "previews": count},
        )
    return await _insert_preview(session, settings, parent, branch)


async def _previewable(session: AsyncSession, parent_id: uuid.UUID, branch: str) -> App:
    """The parent, locked until the transaction ends, if a preview of `branch` can be made."""
    parent = await AppDAO(session).lock(parent_id)
    if parent is None or parent.status == AppStatus.DELETED:
        raise NotFound("App not found")
    if parent.parent_app_id is not None:
        raise NotPreviewable("A preview app has no previews of its own")
    if parent.status == AppStatus.DELETING:
        raise NotPreviewable("The app is being deleted")
    if parent.status == AppStatus.SUSPENDED:
        raise AppSuspended("The app is suspended: it has no new previews meanwhile")
    if branch == parent.branch:
        raise NotPreviewable(f"{branch!r} is the app's own branch: deploy the app instead")
    if problem := branch_problem(branch):
        raise NotPreviewable(f"Cannot preview this branch: {problem}")
    template = await TemplateDAO(session).get(parent.template_key)
    if template is None or not template.needs_repo:
        raise NotPreviewable("Only apps built from a repository have previews")
    return parent


async def _insert_preview(
    session: AsyncSession, settings: DeploySettings, parent: App, branch: str
) -> App:
    dao = AppDAO(session)
    try:
        async with session.begin_nested():
            preview = await dao.create(
                owner_id=parent.owner_id,
                slug=preview_slug(parent.slug, branch),
                name=f"{parent.name} ({branch})"[:NAME_MAX],
                template_key=parent.template_key,
                repo_url=parent.repo_url,
                branch=branch,
                build_command=parent.build_command,
                run_command=parent.run_command,
                memory_mb=parent.memory_mb,
                cpu_millis=parent.cpu_millis,
                pids_max=parent.pids_max,
                status=AppStatus.CREATED,
                parent_app_id=parent.id,
                preview_branch=branch,
            )
    except IntegrityError as exc:  # made meanwhile by a transaction that did not lock the parent
        found = await PreviewDAO(session).of_branch(parent.id, branch)
        if found is not None and found.status not in GONE:
            return found
        raise PreviewBusy(f"A preview of {branch!r} cannot be made now; try again") from exc
    await _copy_env(session, settings, parent.id, preview.id)
    await session.refresh(preview)
    return preview


async def _copy_env(
    session: AsyncSession, settings: DeploySettings, parent_id: uuid.UUID, preview_id: uuid.UUID
) -> None:
    """The parent's env vars as they are now, re-encrypted with the current key; from then on
    the preview's env is its own (the normal env endpoints change it)."""
    cipher = EnvCipher.from_settings(settings)
    env = EnvVarDAO(session)
    for var in await env.of_app(parent_id):
        value = cipher.encrypt(cipher.decrypt(var.value_encrypted))
        await env.upsert(preview_id, var.name, value, var.is_secret)
    await session.flush()


async def _delete(
    session: AsyncSession, preview: App, requested_by: uuid.UUID | None, reason: str
) -> Operation:
    return await request_operation(
        session,
        preview.id,
        OperationKind.DELETE,
        requested_by=requested_by,
        origin=OperationOrigin.USER,
        reason=reason,
    )


async def list_previews(session: AsyncSession, parent: App) -> list[App]:
    return await PreviewDAO(session).live(parent.id)


async def request_preview(
    session: AsyncSession,
    settings: DeploySettings,
    parent: App,
    branch: str,
    requested_by: uuid.UUID,
) -> tuple[App, Operation]:
    """A person asks for a preview of `branch`: made (or found) and deployed from the branch's
    newest commit in the app's repository."""
    preview = await preview_for_branch(session, settings, parent, branch)
    op = await request_operation(
        session,
        preview.id,
        OperationKind.DEPLOY,
        requested_by=requested_by,
        origin=OperationOrigin.USER,
        cause=DeployCause(trigger=OperationTrigger.PREVIEW, source=SourceKind.REPO),
    )
    return preview, op


async def delete_preview(
    session: AsyncSession, parent: App, preview_id: uuid.UUID, requested_by: uuid.UUID
) -> Operation:
    preview = await PreviewDAO(session).of_parent(parent.id, preview_id)
    if preview is None:
        raise NotFound("Preview not found")
    return await _delete(session, preview, requested_by, "deleted by its owner")


async def expire_previews(session: AsyncSession, limit: int = 100) -> int:
    """Delete previews idle past their parent's preview_idle_days, and any whose parent is
    gone; how many deletions were asked for."""
    asked = 0
    for preview_id in await PreviewDAO(session).expired(limit):
        try:
            async with session.begin_nested():
                await request_operation(
                    session,
                    preview_id,
                    OperationKind.DELETE,
                    requested_by=None,
                    origin=OperationOrigin.USER,
                    reason="idle preview removed",
                )
            asked += 1
        except BerthError:  # removed meanwhile
            continue
    return asked
