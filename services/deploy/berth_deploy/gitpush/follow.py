"""What a push shows while its deploy runs: each step as it starts, the build log's lines
(secret env values scrubbed, as the log API serves them), then the result and the app's URL,
or the reason it failed. Bounded: past the wait the push ends and the deploy goes on."""

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from berth_deploy.apps.service import app_url
from berth_deploy.config import DeploySettings
from berth_deploy.enums import LogKind, OperationStatus
from berth_deploy.env.service import EnvCipher, secret_values
from berth_deploy.logs.store import LogStore, scrub, scrub_list
from berth_deploy.models import App, Operation, Template

Say = Callable[[str], Awaitable[None]]
POLL_SECONDS = 0.3
READ_BYTES = 64 * 1024
STEP_TITLES = {
    "clone": "Fetching the pushed commit",
    "build": "Building",
    "start": "Starting the new version",
    "route": "Routing traffic to it",
    "stop_old": "Stopping the previous version",
    "stop": "Stopping",
}
# a deploy's steps in the order they run: a poll that finds a later one announces those passed
DEPLOY_STEPS = ("clone", "build", "start", "route", "stop_old")
DONE = frozenset(
    {
        OperationStatus.SUCCEEDED,
        OperationStatus.FAILED,
        OperationStatus.CANCELLED,
        OperationStatus.SUPERSEDED,
    }
)


def panel_url(settings: DeploySettings, app_id: uuid.UUID) -> str:
    return f"{settings.public_url.rstrip('/')}/panel/apps/{app_id}"


async def follow(
    sessionmaker: async_sessionmaker[AsyncSession],
    settings: DeploySettings,
    cipher: EnvCipher,
    logs: LogStore,
    op_id: uuid.UUID,
    deadline: float,
    say: Say,
) -> None:
    step: str | None = None
    offset = 0
    secrets: list[str] | None = None
    while True:
        async with sessionmaker() as session:
            op = await session.get(Operation, op_id)
            if op is None:
                return
            if secrets is None:
                secrets = scrub_list(await secret_values(session, cipher, op.app_id))
            status, reason, release_id = op.status, op.reason, op.release_id
            app_id, op_step = op.app_id, op.step
        if op_step and op_step != step:
            for passed in _steps_between(step, op_step):
                await say(f"-----> {STEP_TITLES.get(passed, passed)}")
            step = op_step
        if release_id is not None:
            path = logs.path(app_id, release_id, LogKind.BUILD)
            while True:
                lines, offset = logs.read(path, offset, READ_BYTES)
                for line in lines:
                    await say(f"       {scrub(line.text, secrets)}")
                if len(lines) == 0:
                    break
        if status in DONE:
            await _result(sessionmaker, settings, op_id, status, reason, say)
            return
        if time.monotonic() >= deadline:
            await say("-----> Still deploying; the push ends here and the deploy goes on.")
            await say(f"       Watch it in the panel: {panel_url(settings, app_id)}")
            return
        await asyncio.sleep(POLL_SECONDS)


async def _result(sessionmaker, settings, op_id, status, reason, say: Say) -> None:
    async with sessionmaker() as session:
        op = await session.get(Operation, op_id)
        app = await session.get(App, op.app_id)
        template = await session.get(Template, app.template_key)
        url = app_url(settings, app.slug, template.process_type) if template else None
    if status == OperationStatus.SUCCEEDED:
        await say(f"=====> Deployed {(op.commit_sha or '')[:12]}".rstrip())
        await say(f"       {url or panel_url(settings, app.id)}")
    elif status == OperationStatus.SUPERSEDED:
        await say("=====> A newer push took this deploy's place; it builds the newest commit.")
    else:
        await say(f"=====> Deploy {status}: {reason or 'no reason given'}")
        await say(f"       Details in the panel: {panel_url(settings, app.id)}")


def _steps_between(seen: str | None, now: str) -> list[str]:
    """The steps from the one after `seen` up to `now`: a fast step between two polls is
    still shown."""
    if now not in DEPLOY_STEPS or (seen is not None and seen not in DEPLOY_STEPS):
        return [now]
    start = DEPLOY_STEPS.index(seen) + 1 if seen is not None else 0
    return list(DEPLOY_STEPS[start : DEPLOY_STEPS.index(now) + 1]) or [now]
