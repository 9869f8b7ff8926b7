"""A person's apps over deploy's API: list, create from a template, env vars, deployments
and the other operations, logs."""

from enum import StrEnum
from typing import Any

from berth_frontend.web.backends import Backends, Caller
from berth_frontend.web.tables import Table

API = "/api/deploy/v1"
LOG_PAGE_BYTES = 65536


class AppStatus(StrEnum):
    """An app's status as deploy reports it."""

    CREATED = "created"
    QUEUED = "queued"
    BUILDING = "building"
    STARTING = "starting"
    RUNNING = "running"
    FAILED = "failed"
    STOPPING = "stopping"
    STOPPED = "stopped"
    SUSPENDED = "suspended"
    DELETING = "deleting"


class AppAction(StrEnum):
    """What the owner may ask of an app from its page."""

    DEPLOY = "deploy"
    RESTART = "restart"
    STOP = "stop"
    START = "start"
    ROLLBACK = "rollback"


class LogKind(StrEnum):
    BUILD = "build"
    RUN = "run"


STATUSES = tuple(AppStatus)
# while an app is in one of these, its page refreshes itself
TRANSITIONAL = frozenset(
    {
        AppStatus.QUEUED,
        AppStatus.BUILDING,
        AppStatus.STARTING,
        AppStatus.STOPPING,
        AppStatus.DELETING,
    }
)
ACTIONS = tuple(AppAction)
LOG_KINDS = tuple(LogKind)


def app_path(app_id: str) -> str:
    return f"{API}/apps/{app_id}"


async def apps(backends: Backends, caller: Caller, table: Table) -> dict[str, Any]:
    return await backends.deploy.get(f"{API}/apps", caller, **table.api_params())


async def recent(backends: Backends, caller: Caller, size: int = 5) -> dict[str, Any]:
    """The person's apps, the last changed first."""
    return await backends.deploy.get(f"{API}/apps", caller, size=size, sort="-updated_at")


async def count(backends: Backends, caller: Caller, **filters: str) -> int:
    page = await backends.deploy.get(f"{API}/apps", caller, size=1, **filters)
    return int(page["total"])


async def app(backends: Backends, caller: Caller, app_id: str) -> dict[str, Any]:
    return await backends.deploy.get(app_path(app_id), caller)


async def templates(backends: Backends, caller: Caller) -> list[dict[str, Any]]:
    return await backends.deploy.get(f"{API}/templates", caller)


async def create(backends: Backends, caller: Caller, body: dict[str, Any]) -> dict[str, Any]:
    return await backends.deploy.post(f"{API}/apps", caller, body)


async def act(backends: Backends, caller: Caller, app_id: str, action: str) -> dict[str, Any]:
    path = "deployments" if action == AppAction.DEPLOY else action
    return await backends.deploy.post(f"{app_path(app_id)}/{path}", caller)


async def delete(backends: Backends, caller: Caller, app_id: str) -> dict[str, Any]:
    return await backends.deploy.delete(app_path(app_id), caller)


async def operations(backends: Backends, caller: Caller, app_id: str) -> dict[str, Any]:
    return await backends.deploy.get(f"{app_path(app_id)}/operations", caller, size=8)


async def releases(backends: Backends, caller: Caller, app_id: str) -> dict[str, Any]:
    return await backends.deploy.get(f"{app_path(app_id)}/releases", caller, size=8)


async def env(backends: Backends, caller: Caller, app_id: str) -> list[dict[str, Any]]:
    return await backends.deploy.get(f"{app_path(app_id)}/env", caller)


async def set_env(
    backends: Backends, caller: Caller, app_id: str, name: str, value: str, secret: bool
) -> None:
    await backends.deploy.put(
        f"{app_path(app_id)}/env/{name}", caller, {"value": value, "secret": secret}
    )


async def delete_env(backends: Backends, caller: Caller, app_id: str, name: str) -> None:
    await backends.deploy.delete(f"{app_path(app_id)}/env/{name}", caller)


async def logs(
    backends: Backends, caller: Caller, app_id: str, kind: str, offset: int, admin: bool = False
) -> dict[str, Any]:
    base = f"{API}/admin/apps/{app_id}" if admin else app_path(app_id)
    return await backends.deploy.get(
        f"{base}/logs", caller, kind=kind, offset=offset, limit_bytes=LOG_PAGE_BYTES
    )


def parse_env_lines(text: str) -> tuple[list[dict[str, Any]], list[str]]:
    """`NAME=value` per line (blank lines and # comments skipped) -> env vars, problems."""
    found: list[dict[str, Any]] = []
    problems: list[str] = []
    for number, line in enumerate(text.splitlines(), start=1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        name, sep, value = line.partition("=")
        if not sep or not name.strip():
            problems.append(f"line {number}: use NAME=value")
            continue
        found.append({"name": name.strip(), "value": value, "secret": False})
    return found, problems
