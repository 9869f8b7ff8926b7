"""Polling an app's remote where no webhook can be configured.

Beat fires `deploy.polling.run` every DEPLOY_POLL_TICK_SECONDS; the task claims the apps
whose `poll_interval_seconds` has passed (a row claim: two beats or workers never poll one app
twice) and, for each, runs `git ls-remote` of the app's repository for its branch INSIDE the
app's sandbox, as the build's clone runs (same URL checks, network policy and read-only mount
of a local repository). A commit the app has not seen (not the last poll's, nor its current
release's, nor its newest deploy's) becomes a BranchEvent for autodeploy.router. A poll that
fails leaves the owner a sentence (`poll_error`), never git's raw output.
"""

import asyncio
import uuid
from dataclasses import dataclass

from loguru import logger
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from berth_deploy.apps.dao import AppDAO
from berth_deploy.autodeploy.events import BranchChange, BranchEvent, Routed
from berth_deploy.autodeploy.router import on_branch_event
from berth_deploy.config import DeploySettings
from berth_deploy.enums import AppStatus, OperationTrigger, SourceKind
from berth_deploy.operations.executor import NodeContext
from berth_deploy.polling.dao import PollDAO, try_tick_lock
from berth_deploy.sandbox import git
from berth_deploy.sandbox.cgroups import Limits
from berth_deploy.sandbox.driver import ProcessSpec
from berth_deploy.sandbox.layout import AppPaths

PARALLEL = 4  # ls-remotes one task runs at once


class PollFailed(Exception):
    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class PollTarget:
    app_id: uuid.UUID
    repo_url: str
    branch: str
    run_uid: int


async def claim_due(session: AsyncSession, limit: int) -> list[PollTarget]:
    return [PollTarget(*row) for row in await PollDAO(session).claim_due(limit)]


async def remote_head(ctx: NodeContext, target: PollTarget) -> str:
    """The branch's commit on the app's remote, asked from inside the app's sandbox."""
    settings = ctx.settings
    try:
        url = git.normalise_repo_url(target.repo_url, local_root=settings.local_repos_dir)
        await git.resolve_public(url, ctx.driver.refused_networks(), required=True)
    except git.RepoNotAllowed as exc:
        raise PollFailed(f"the repository cannot be polled: {exc.message}") from exc
    paths = AppPaths(settings.data_dir, target.app_id, settings.uid_base + target.run_uid)
    scratch = uuid.uuid4()
    name = f"p-{scratch}"
    await asyncio.to_thread(paths.prepare)
    paths.fresh_release_dir(scratch).mkdir(parents=True)
    await asyncio.to_thread(paths.own_release, scratch)
    local = git.local_path(url)
    output = ctx.driver.scratch_log(name)
    spec = ProcessSpec(
        name=name,
        command=git.ls_remote_command(url, target.branch),
        mounts=paths.mounts(scratch, read_only=(local,) if local else ()),
        env=git.git_env(url),
        log_path=output,
        uid=paths.uid,
        limits=Limits(256, 500, 64),
    )
    try:
        proc = await ctx.driver.run(spec)
        try:
            code = await asyncio.wait_for(proc.wait(), settings.poll_timeout_seconds)
        except TimeoutError:
            ctx.driver.kill_group(proc.pid)
            await asyncio.wait_for(proc.wait(), 10)
            raise PollFailed("the repository did not answer in time") from None
        text = output.read_text(errors="replace")[-20_000:] if output.exists() else ""
    finally:
        ctx.driver.forget(name)
        output.unlink(missing_ok=True)
        paths.remove_release(scratch)
    if code != 0:
        reason = git.clone_failure(text).replace("could not clone", "could not read")
        raise PollFailed(reason)
    sha = git.head_of(text, target.branch)
    if sha is None:
        raise PollFailed("the branch was not found in the repository")
    return sha


async def record(
    session: AsyncSession,
    settings: DeploySettings,
    target: PollTarget,
    sha: str | None,
    error: str | None,
) -> Routed | None:
    """Keep what the poll found; a commit the app has not seen goes to the router. An app
    moved to another branch or repository meanwhile keeps nothing (the answer is the old one's)."""
    app = await AppDAO(session).lock(target.app_id)
    if app is None or app.status in (AppStatus.DELETING, AppStatus.DELETED):
        return None
    if (app.branch, app.repo_url) != (target.branch, target.repo_url):
        return None
    if sha is None:
        app.poll_error = (error or "the poll failed")[:200]
        return None
    known = await PollDAO(session).known_commits(app)
    fresh = sha != app.polled_commit_sha and sha not in known
    app.poll_error, app.polled_commit_sha = None, sha
    await session.flush()
    if not fresh or app.poll_interval_seconds is None:
        return None
    event = BranchEvent(
        change=BranchChange.PUSHED,
        branch=app.branch,
        trigger=OperationTrigger.POLL,
        source=SourceKind.REPO,
        commit_sha=sha,
    )
    routed = await on_branch_event(session, settings, app, event)
    logger.bind(app_id=str(app.id)).info("poll found {}: {}", sha[:12], routed.outcome)
    return routed


async def poll_tick(ctx: NodeContext, engine: AsyncEngine) -> int | None:
    """One beat tick: poll what is due, unless an earlier tick still polls (None). Slow
    remotes make a tick outlast the next ones; without this, overlapping ticks would take
    every worker slot of the deploy queue and no build would run meanwhile."""
    # edge: a connection of its own holds the tick's advisory lock for the tick
    async with engine.connect() as conn, conn.begin():
        if not await try_tick_lock(conn):
            return None
        return await poll_due(ctx)


def tick_time_limit(settings: DeploySettings) -> int:
    """How long a tick may take: its batch, PARALLEL at a time, each up to its timeout (and
    the kill that follows one)."""
    rounds = -(-settings.poll_batch // PARALLEL)
    return rounds * (settings.poll_timeout_seconds + 10) + 30


async def poll_due(ctx: NodeContext) -> int:
    """Poll every due app (up to DEPLOY_POLL_BATCH); how many were polled."""
    settings = ctx.settings
    targets = await ctx.tx(claim_due, limit=settings.poll_batch)
    slots = asyncio.Semaphore(PARALLEL)

    async def one(target: PollTarget) -> None:
        async with slots:
            try:
                sha, error = await remote_head(ctx, target), None
            except PollFailed as exc:
                sha, error = None, exc.reason
        await ctx.tx(record, settings=settings, target=target, sha=sha, error=error)

    await asyncio.gather(*(one(t) for t in targets))
    return len(targets)
