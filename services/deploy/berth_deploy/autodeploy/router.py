"""One place that decides what a branch event does to an app, whatever reported it.

The tracked branch moving deploys that exact commit (when the app's auto-deploy is on); a
deploy already queued is superseded by it, so pushes that arrive while a deploy runs collapse
to the newest commit. Other branches matter only to apps with previews: a pushed branch gets
its preview app made or redeployed, a deleted one loses it. Preview apps follow nothing
themselves (their parent's events drive them).
"""

from sqlalchemy.ext.asyncio import AsyncSession

from berth_common.errors import Conflict
from berth_deploy.autodeploy.events import BranchChange, BranchEvent, Outcome, Routed
from berth_deploy.config import DeploySettings
from berth_deploy.enums import AppStatus, OperationKind, OperationOrigin
from berth_deploy.models import App
from berth_deploy.operations.service import request_operation


async def on_branch_event(
    session: AsyncSession, settings: DeploySettings, app: App, event: BranchEvent
) -> Routed:
    """Act on the event inside the caller's transaction (the caller commits)."""
    if app.parent_app_id is not None or app.status in (AppStatus.DELETING, AppStatus.DELETED):
        return Routed(Outcome.IGNORED)
    if event.branch != app.branch:
        return await _other_branch(session, settings, app, event)
    if event.change == BranchChange.DELETED or event.commit_sha is None:
        return Routed(Outcome.IGNORED)
    if not app.auto_deploy:
        return Routed(Outcome.DISABLED, app.id)
    try:
        op = await request_operation(
            session,
            app.id,
            OperationKind.DEPLOY,
            requested_by=None,
            origin=OperationOrigin.USER,
            cause=event.cause(),
        )
    except Conflict:  # suspended by billing or an admin, or the account is
        return Routed(Outcome.NOT_DEPLOYABLE, app.id)
    return Routed(Outcome.DEPLOYED, app.id, op.id)


async def _other_branch(
    session: AsyncSession, settings: DeploySettings, app: App, event: BranchEvent
) -> Routed:
    from berth_deploy.previews import service as previews

    # a branch that goes takes its preview along even when previews were turned off since
    if event.change == BranchChange.DELETED:
        return await previews.branch_deleted(session, settings, app, event)
    if not app.previews_enabled:
        return Routed(Outcome.IGNORED)
    return await previews.branch_pushed(session, settings, app, event)
