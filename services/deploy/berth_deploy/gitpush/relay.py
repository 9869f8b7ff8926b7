"""The deploy web process's side of a push's post-receive hook.

Each web process listens on one Unix socket of its own (a 0700 directory of the platform
user). A git request that may push registers a random key with the app it authenticated
for; git passes the key to the hook, which sends it back with the ref updates. The relay turns
each update into a BranchEvent for autodeploy.router (in one transaction, committed and its
tasks published before anything is shown), then follows the deploy it started and writes its
progress back for the hook to print. A client that goes away stops the printing, never the
deploy.
"""

import asyncio
import os
import secrets
import shutil
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from loguru import logger

from berth_common.errors import BerthError
from berth_deploy.autodeploy.events import BranchChange, BranchEvent, Outcome, Routed
from berth_deploy.autodeploy.router import on_branch_event
from berth_deploy.config import DeploySettings
from berth_deploy.enums import OperationTrigger, SourceKind
from berth_deploy.gitpush import commits
from berth_deploy.gitpush.follow import follow
from berth_deploy.models import App
from berth_deploy.sandbox.git import hosted_repo

HEADS = "refs/heads/"
READ_SECONDS = 10.0
MAX_UPDATES_BYTES = 1024 * 1024


class PushRelay:
    def __init__(self, settings: DeploySettings) -> None:
        self.settings = settings
        self._pushes: dict[str, uuid.UUID] = {}
        self._dir: Path | None = None
        self._server: asyncio.AbstractServer | None = None
        self._app: Any = None

    @property
    def socket_path(self) -> str:
        if self._dir is None:
            raise RuntimeError("the push relay is not started")
        return str(self._dir / "relay.sock")

    async def start(self, app: Any) -> None:
        self._app = app
        self._dir = Path(tempfile.mkdtemp(prefix="berth-push-"))  # 0700, this user's
        self._server = await asyncio.start_unix_server(self._serve, path=self.socket_path)
        os.chmod(self.socket_path, 0o600)

    async def stop(self, _: Any = None) -> None:
        if self._server is not None:
            self._server.close()
            self._server = None
        if self._dir is not None:
            shutil.rmtree(self._dir, ignore_errors=True)
            self._dir = None

    def register(self, app_id: uuid.UUID) -> str:
        key = secrets.token_urlsafe(32)
        self._pushes[key] = app_id
        return key

    def forget(self, key: str) -> None:
        self._pushes.pop(key, None)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            key = (await asyncio.wait_for(reader.readline(), READ_SECONDS)).decode().strip()
            app_id = self._pushes.pop(key, None)  # one use per push
            if app_id is None:
                return
            raw = await asyncio.wait_for(reader.read(MAX_UPDATES_BYTES), READ_SECONDS)
            updates = parse_updates(raw.decode(errors="replace"))

            async def say(line: str) -> None:
                writer.write(line.encode(errors="replace") + b"\n")
                await writer.drain()

            await self._handle(app_id, updates, say)
        except (ConnectionError, TimeoutError):
            pass  # the person pushing went away: what was queued goes on
        except Exception:
            logger.exception("push relay failed")
        finally:
            writer.close()

    async def _handle(self, app_id: uuid.UUID, updates, say) -> None:
        settings, state = self.settings, self._app.state
        deadline = time.monotonic() + settings.push_wait_seconds
        routed = await self._route(app_id, updates)
        for branch, sha, result in routed:
            await _tell(say, branch, sha, result)
        for _, _, result in routed:
            if isinstance(result, Routed) and result.operation_id is not None:
                await follow(
                    state.db.sessionmaker,
                    settings,
                    state.env_cipher,
                    state.log_store,
                    result.operation_id,
                    deadline,
                    say,
                )

    async def _route(self, app_id: uuid.UUID, updates) -> list[tuple[str, str, Any]]:
        """Every update through the router, in one transaction; its tasks published once it
        has committed."""
        state = self._app.state
        repo = hosted_repo(self.settings.hosted_repos_dir, app_id)
        results: list[tuple[str, str, Any]] = []
        async with state.db.sessionmaker() as session:
            app = await session.get(App, app_id)
            if app is None:
                return results
            for _, new, ref in updates:
                branch = ref[len(HEADS) :]
                event = await _event(repo, branch, new)
                try:
                    async with session.begin_nested():
                        result: Any = await on_branch_event(session, self.settings, app, event)
                except BerthError as exc:
                    result = exc.message
                results.append((branch, new, result))
            await session.commit()  # edge: the push relay, outside any request
            pending = session.info.pop("outbox_pending", [])
        if pending:
            await state.outbox_relay.publish_now(pending)
        return results


def parse_updates(text: str) -> list[tuple[str, str, str]]:
    updates = []
    for line in text.splitlines():
        parts = line.split(" ", 2)
        if len(parts) == 3 and parts[2].startswith(HEADS):
            updates.append((parts[0], parts[1], parts[2]))
    return updates


async def _event(repo: Path, branch: str, new: str) -> BranchEvent:
    if set(new) == {"0"}:
        return BranchEvent(BranchChange.DELETED, branch, OperationTrigger.PUSH, SourceKind.HOSTED)
    author, message = await commits.describe(repo, new)
    return BranchEvent(
        BranchChange.PUSHED,
        branch,
        OperationTrigger.PUSH,
        SourceKind.HOSTED,
        commit_sha=new,
        author=author,
        message=message,
    )


async def _tell(say, branch: str, sha: str, result: Any) -> None:
    short = sha[:12]
    if not isinstance(result, Routed):
        await say(f"-----> {branch}: stored; {result}")
        return
    text = {
        Outcome.DEPLOYED: f"-----> {branch} {short}: deploying",
        Outcome.DISABLED: f"-----> {branch} {short}: stored; auto-deploy is off for this app "
        "(deploy it from the panel)",
        Outcome.IGNORED: f"-----> {branch}: stored (not the app's deployed branch; nothing "
        "deployed)",
        Outcome.PREVIEW: f"-----> {branch} {short}: deploying its preview app",
        Outcome.PREVIEW_REMOVED: f"-----> {branch}: deleted; its preview app is removed",
        Outcome.NOT_DEPLOYABLE: f"-----> {branch} {short}: stored; the app cannot be deployed "
        "now (suspended or busy being removed)",
    }.get(result.outcome, f"-----> {branch} {short}: {result.outcome}")
    await say(f"{text}: {result.reason}" if result.reason else text)
