"""Every user's apps, over deploy's admin API."""

from typing import Any

from berth_frontend.web.backends import Backends, Caller
from berth_frontend.web.tables import Table

ADMIN = "/api/deploy/v1/admin/apps"
RUNTIME = "/api/deploy/v1/admin/runtime"
ACTIONS = ("stop", "start", "restart", "unsuspend")


async def apps(backends: Backends, caller: Caller, table: Table) -> dict[str, Any]:
    return await backends.deploy.get(ADMIN, caller, **table.api_params())


async def app(backends: Backends, caller: Caller, app_id: str) -> dict[str, Any]:
    return await backends.deploy.get(f"{ADMIN}/{app_id}", caller)


async def operations(backends: Backends, caller: Caller, app_id: str) -> dict[str, Any]:
    return await backends.deploy.get(f"{ADMIN}/{app_id}/operations", caller, size=10)


async def act(backends: Backends, caller: Caller, app_id: str, action: str):
    return await backends.deploy.post(f"{ADMIN}/{app_id}/{action}", caller)


async def suspend(backends: Backends, caller: Caller, app_id: str, reason: str):
    return await backends.deploy.post(f"{ADMIN}/{app_id}/suspend", caller, {"reason": reason})


async def delete(backends: Backends, caller: Caller, app_id: str):
    return await backends.deploy.delete(f"{ADMIN}/{app_id}", caller)


async def runtime(backends: Backends, caller: Caller) -> dict[str, Any]:
    """How tenants' code runs (network isolation on or off) and what admins must hear."""
    return await backends.deploy.get(RUNTIME, caller)
