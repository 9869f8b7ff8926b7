"""Preview apps: one per branch (or pull request) of an app with previews on, at
`<slug>--<branch>.apps…`, billed to the same owner, removed with its branch or when idle."""

from sqlalchemy.ext.asyncio import AsyncSession

from berth_deploy.autodeploy.events import BranchEvent, Routed
from berth_deploy.config import DeploySettings
from berth_deploy.models import App


async def branch_pushed(
    session: AsyncSession, settings: DeploySettings, parent: App, event: BranchEvent
) -> Routed:
    """Make the branch's preview app (or find it) and deploy event.commit_sha on it."""
    raise NotImplementedError  # the previews work fills this in


async def branch_deleted(
    session: AsyncSession, settings: DeploySettings, parent: App, event: BranchEvent
) -> Routed:
    """Delete the branch's preview app, if it has one."""
    raise NotImplementedError  # the previews work fills this in
