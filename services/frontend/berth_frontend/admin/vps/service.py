"""Every VPS for admins (owner, node, kind, resource use) and acting on them, over deploy's
admin API; and the audit of console sessions."""

from typing import Any

from berth_frontend.web.backends import Backends, Caller
from berth_frontend.web.tables import Table

API = "/api/deploy/v1/admin/vps"

# what an admin may do from the list, and what the page says once it is queued
ACTIONS = {
    "start": "Start queued.",
    "stop": "Shutdown queued.",
    "reboot": "Reboot queued.",
    "reset": "Reset queued.",
    "suspend": "Suspension queued: the VPS stops and its owner cannot start it.",
    "unsuspend": "Unsuspend queued: the VPS starts again.",
}


async def machines(backends: Backends, caller: Caller, table: Table) -> dict[str, Any]:
    return await backends.deploy.get(API, caller, **table.api_params())


async def act(
    backends: Backends, caller: Caller, vps_id: str, action: str, reason: str | None = None
) -> dict[str, Any]:
    body = {"reason": reason} if action == "suspend" and reason else None
    return await backends.deploy.post(f"{API}/{vps_id}/actions/{action}", caller, body)


async def delete(backends: Backends, caller: Caller, vps_id: str) -> dict[str, Any]:
    return await backends.deploy.delete(f"{API}/{vps_id}", caller)


async def console_sessions(backends: Backends, caller: Caller, table: Table) -> dict[str, Any]:
    return await backends.deploy.get(f"{API}/console-sessions", caller, **table.api_params())
