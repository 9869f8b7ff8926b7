"""Queries of polling: claim the apps whose poll is due, what an app last deployed."""

import uuid

from sqlalchemy import func, or_, select, text, update
from sqlalchemy.ext.asyncio import AsyncConnection

from berth_common.dao import BaseDAO
from berth_deploy.enums import AppStatus, OperationKind
from berth_deploy.models import App, Operation, Release

# apps whose remote is polled: not previews, not going away or held
_POLLED_STATUSES = [
    s for s in AppStatus if s not in (AppStatus.DELETING, AppStatus.DELETED, AppStatus.SUSPENDED)
]


TICK_LOCK = "berth-deploy-poll-tick"


# process edge: the lock lives in the tick's own transaction on a connection of its own, so it
# goes with that transaction however the tick ends (a killed task's connection included)
async def try_tick_lock(conn: AsyncConnection) -> bool:
    """Whether this tick may poll: no other tick, in any worker, is still polling."""
    stmt = text("SELECT pg_try_advisory_xact_lock(hashtext(:key))")
    return bool((await conn.execute(stmt, {"key": TICK_LOCK})).scalar())


class PollDAO(BaseDAO[App]):
    model = App

    async def claim_due(self, limit: int) -> list[tuple[uuid.UUID, str, str, int]]:
        """Up to `limit` apps whose poll is due, marked polled now: (id, repo_url, branch,
        run_uid). Rows another claimer holds are skipped and a claimed app is not due again
        for its interval, so two beats or workers never poll one app twice."""
        due = (
            select(App.id)
            .where(
                App.poll_interval_seconds.is_not(None),
                App.auto_deploy.is_(True),
                App.parent_app_id.is_(None),
                App.repo_url.is_not(None),
                App.status.in_(_POLLED_STATUSES),
                or_(
                    App.polled_at.is_(None),
                    App.polled_at
                    <= func.now() - func.make_interval(0, 0, 0, 0, 0, 0, App.poll_interval_seconds),
                ),
            )
            .order_by(App.polled_at.asc().nulls_first())
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        stmt = (
            update(App)
            .where(App.id.in_(due.scalar_subquery()))
            .values(polled_at=func.now())
            .returning(App.id, App.repo_url, App.branch, App.run_uid)
            .execution_options(synchronize_session=False)
        )
        return [tuple(row) for row in await self.session.execute(stmt)]

    async def known_commits(self, app: App) -> set[str]:
        """Commits the app has deployed or been asked to: its current release's, its newest
        deploy's (a poll finding one of these has nothing new to deploy)."""
        found = set()
        if app.current_release_id is not None:
            release = await self.session.get(Release, app.current_release_id)
            if release is not None and release.commit_sha:
                found.add(release.commit_sha)
        newest = await self.session.scalar(
            select(Operation.commit_sha)
            .where(
                Operation.app_id == app.id,
                Operation.kind == OperationKind.DEPLOY,
                Operation.commit_sha.is_not(None),
            )
            .order_by(Operation.created_at.desc())
            .limit(1)
        )
        if newest:
            found.add(newest)
        return found
