"""`https://<platform>/git/<slug>.git`: the app's repository over git's smart HTTP protocol,
served by `git http-backend` (CGI) with both bodies streamed, never held whole in memory.

Authentication is HTTP Basic with one of the app's live deploy tokens as the password (the
user name is ignored). Anything else is a 401 asking for Basic credentials, the same whether
or not the app exists. A raw ASGI endpoint, not a FastAPI route: the request body is read
while the response is already being sent (a push's output streams as it is made).
"""

import asyncio
import base64
import binascii
import json
import re
import uuid
from dataclasses import dataclass
from typing import Any

from loguru import logger
from starlette.types import Receive, Scope, Send

from berth_common.errors import error_body
from berth_deploy.config import DeploySettings
from berth_deploy.gitpush import repo as repos
from berth_deploy.gitpush.relay import PushRelay
from berth_deploy.gitpush.service import authenticate

PATH = re.compile(
    r"^/git/([a-z0-9][a-z0-9-]{0,62})\.git/(info/refs|git-upload-pack|git-receive-pack)$"
)
SERVICES = frozenset({"git-upload-pack", "git-receive-pack"})
CHUNK = 64 * 1024
SLACK_BYTES = 1024 * 1024  # the commands around a pack, beyond receive.maxInputSize
HEADER_BYTES = 16 * 1024
PASSED_HEADERS = frozenset({"content-type", "cache-control", "expires", "pragma"})


@dataclass(frozen=True)
class Target:
    app_id: uuid.UUID
    slug: str
    branch: str
    allow_force_push: bool


class GitProblem(Exception):
    def __init__(self, status: int, code: str, message: str, headers: dict | None = None):
        super().__init__(message)
        self.status, self.code, self.message, self.headers = status, code, message, headers or {}


def unauthorized() -> GitProblem:
    return GitProblem(
        401,
        "unauthorized",
        "Use one of the app's deploy tokens as the password",
        {"www-authenticate": 'Basic realm="Berth git", charset="UTF-8"'},
    )


def basic_token(headers: dict[str, str]) -> str | None:
    scheme, _, value = headers.get("authorization", "").partition(" ")
    if scheme.lower() != "basic" or not value.strip():
        return None
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        return None
    user, _, password = decoded.partition(":")
    return password or user or None


class GitHttpEndpoint:
    """The ASGI app behind /git/<slug>.git/..."""

    def __init__(self, settings: DeploySettings, relay: PushRelay) -> None:
        self.settings = settings
        self.relay = relay
        self._pushing: dict[uuid.UUID, int] = {}  # pushes being served, per app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            service, target = await self._admit(scope)
        except GitProblem as problem:
            await _problem(send, problem)
            return
        await self._serve(scope, receive, send, service, target)

    async def _admit(self, scope: Scope) -> tuple[str, Target]:
        found = PATH.match(scope["path"])
        if found is None:
            raise GitProblem(404, "not_found", "Not a repository path")
        slug, rest = found.groups()
        method = scope["method"]
        query = scope.get("query_string", b"").decode(errors="replace")
        if rest == "info/refs":
            service = query.removeprefix("service=") if query.startswith("service=") else ""
            if method not in ("GET", "HEAD") or service not in SERVICES:
                raise GitProblem(400, "bad_request", "Only git's smart HTTP protocol is served")
        elif method != "POST":
            raise GitProblem(405, "method_not_allowed", "Use POST")
        else:
            service = rest
        headers = _headers(scope)
        token = basic_token(headers)
        if token is None:
            raise unauthorized()
        db = scope["app"].state.db
        async with db.sessionmaker() as session:
            app = await authenticate(session, slug, token)
            if app is None:
                raise unauthorized()
            target = Target(app.id, app.slug, app.branch, app.allow_force_push)
            await session.commit()  # edge: a raw ASGI endpoint (git), no request session
        length = headers.get("content-length")
        if length is not None and not length.isdigit():
            raise GitProblem(400, "bad_request", "Content-Length is not a number")
        if length is not None and int(length) > self._body_cap():
            raise GitProblem(
                413,
                "push_too_large",
                f"A push may carry at most {self.settings.push_max_bytes // 1024} KiB",
            )
        return service, target

    def _body_cap(self) -> int:
        return self.settings.push_max_bytes + SLACK_BYTES

    async def _serve(self, scope, receive, send, service: str, target: Target) -> None:
        settings = self.settings
        path = await asyncio.to_thread(repos.ensure_repo, settings, target.app_id)
        pushing = service == "git-receive-pack" and scope["method"] == "POST"
        if pushing:
            size = await asyncio.to_thread(repos.repo_bytes, path)
            if size > settings.repo_max_bytes:
                await _problem(
                    send,
                    GitProblem(
                        413,
                        "repository_full",
                        f"The app's repository takes {size // 1024} KiB, over the limit of "
                        f"{settings.repo_max_bytes // 1024} KiB",
                    ),
                )
                return
        if pushing and self._pushing.get(target.app_id, 0) >= settings.pushes_per_app:
            await _problem(
                send,
                GitProblem(
                    429,
                    "too_many_pushes",
                    f"{settings.pushes_per_app} pushes to this app are under way; retry when "
                    "one has ended",
                    {"retry-after": "10"},
                ),
            )
            return
        key = self.relay.register(target.app_id) if pushing else None
        if pushing:
            self._pushing[target.app_id] = self._pushing.get(target.app_id, 0) + 1
        try:
            env = self._cgi_env(scope, target, key)
            proc = await asyncio.create_subprocess_exec(
                "git",
                "http-backend",
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
                env=env,
                cwd=str(settings.hosted_repos_dir),
            )
            run = _Run(proc, receive, send, self._body_cap())
            # the deploy a push started goes on even if this request is cancelled
            await asyncio.shield(run.finish_later(settings.push_wait_seconds + 300))
        finally:
            if key is not None:
                self.relay.forget(key)
                left = self._pushing.pop(target.app_id, 1) - 1
                if left > 0:
                    self._pushing[target.app_id] = left

    def _cgi_env(self, scope: Scope, target: Target, key: str | None) -> dict[str, str]:
        settings = self.settings
        headers = _headers(scope)
        found = PATH.match(scope["path"])
        assert found is not None
        env = repos.git_env(settings, target.allow_force_push)
        env.update(
            GIT_PROJECT_ROOT=str(settings.hosted_repos_dir),
            GIT_HTTP_EXPORT_ALL="1",
            PATH_INFO=f"/{target.app_id}.git/{found.group(2)}",
            REQUEST_METHOD=scope["method"],
            QUERY_STRING=scope.get("query_string", b"").decode(errors="replace"),
            CONTENT_TYPE=headers.get("content-type", ""),
            REMOTE_USER=target.slug,
            REMOTE_ADDR=(scope.get("client") or ("127.0.0.1", 0))[0],
            BERTH_BRANCH=target.branch,
            BERTH_ALLOW_FORCE="1" if target.allow_force_push else "0",
            BERTH_REPO_MAX_BYTES=str(settings.repo_max_bytes),
        )
        if "content-length" in headers:
            env["CONTENT_LENGTH"] = headers["content-length"]
        if headers.get("content-encoding", "").lower() in ("gzip", "x-gzip"):
            env["HTTP_CONTENT_ENCODING"] = headers["content-encoding"]
        protocol = headers.get("git-protocol", "")
        if re.fullmatch(r"version=[0-9]", protocol):
            env["GIT_PROTOCOL"] = protocol
        if key is not None:
            env["BERTH_PUSH_SOCKET"] = self.relay.socket_path
            env["BERTH_PUSH_KEY"] = key
        return env


class _Run:
    """One http-backend process: the request body fed to it, its output sent back."""

    def __init__(self, proc: asyncio.subprocess.Process, receive, send, cap: int) -> None:
        self.proc, self.receive, self.send, self.cap = proc, receive, send, cap
        self.too_large = False
        self.client_gone = False
        self.started = False

    async def finish_later(self, seconds: float) -> None:
        feeder = asyncio.create_task(self._feed())
        errors = asyncio.create_task(self._stderr())
        try:
            await asyncio.wait_for(self._respond(), seconds)
        except TimeoutError:
            logger.warning("git http-backend outlived its time; stopped")
        finally:
            if self.proc.returncode is None:
                self.proc.kill()
            await self.proc.wait()
            feeder.cancel()
            await asyncio.gather(feeder, errors, return_exceptions=True)

    async def _feed(self) -> None:
        stdin = self.proc.stdin
        assert stdin is not None
        total = 0
        try:
            while True:
                message = await self.receive()
                if message["type"] == "http.disconnect":
                    self.client_gone = True
                    return
                body = message.get("body", b"")
                total += len(body)
                if total > self.cap:
                    self.too_large = True
                    self.proc.kill()
                    return
                if body:
                    stdin.write(body)
                    await stdin.drain()
                if not message.get("more_body", False):
                    return
        except (BrokenPipeError, ConnectionResetError):
            pass  # git stopped reading: it refused the push and says why in its answer
        finally:
            stdin.close()

    async def _stderr(self) -> None:
        assert self.proc.stderr is not None
        text = await self.proc.stderr.read(4096)
        while await self.proc.stderr.read(CHUNK):
            pass
        if text.strip():
            logger.bind(stderr=text.decode(errors="replace")[:1000]).warning("git http-backend")

    async def _respond(self) -> None:
        stdout = self.proc.stdout
        assert stdout is not None
        raw = b""
        while b"\r\n\r\n" not in raw and b"\n\n" not in raw:
            chunk = await stdout.read(CHUNK)
            if not chunk or len(raw) > HEADER_BYTES:
                await self._failed()
                return
            raw += chunk
        head, body = re.split(rb"\r?\n\r?\n", raw, maxsplit=1)
        status, headers = _cgi_headers(head)
        await self._send({"type": "http.response.start", "status": status, "headers": headers})
        self.started = True
        while True:
            if body:
                await self._send({"type": "http.response.body", "body": body, "more_body": True})
            body = await stdout.read(CHUNK)
            if not body:
                break
        await self._send({"type": "http.response.body", "body": b"", "more_body": False})

    async def _failed(self) -> None:
        await self.proc.wait()
        if self.too_large:
            problem = GitProblem(413, "push_too_large", "The push is larger than allowed")
        else:
            problem = GitProblem(502, "git_failed", "git could not answer this request")
        await _problem(self.send, problem)

    async def _send(self, message: dict[str, Any]) -> None:
        if self.client_gone:
            return  # keep reading git's output to its end: the push finishes without them
        try:
            await self.send(message)
        except OSError:
            self.client_gone = True


def _headers(scope: Scope) -> dict[str, str]:
    return {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}


def _cgi_headers(head: bytes) -> tuple[int, list[tuple[bytes, bytes]]]:
    status, headers = 200, []
    for line in head.decode("latin-1").splitlines():
        name, _, value = line.partition(":")
        name, value = name.strip().lower(), value.strip()
        if name == "status":
            code = value.split(" ", 1)[0]
            status = int(code) if code.isdigit() else 502
        elif name in PASSED_HEADERS:
            headers.append((name.encode(), value.encode("latin-1")))
    return status, headers


async def _problem(send: Send, problem: GitProblem) -> None:
    body = json.dumps(error_body(problem.code, problem.message)).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    headers += [(k.encode(), v.encode()) for k, v in problem.headers.items()]
    await send({"type": "http.response.start", "status": problem.status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
