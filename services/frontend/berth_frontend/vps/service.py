"""A person's VPSes over deploy's API: plans, order, the machine's page (actions, resize,
snapshots, operations) and a console token for the browser console."""

from typing import Any

from berth_frontend.web.backends import Backends, Caller
from berth_frontend.web.tables import Table

API = "/api/deploy/v1/vps"

STATUSES = (
    "creating",
    "starting",
    "running",
    "stopping",
    "stopped",
    "rebooting",
    "suspended",
    "failed",
)
# while a VPS is in one of these, its page refreshes itself
TRANSITIONAL = frozenset({"creating", "starting", "stopping", "rebooting"})
# statuses whose console is worth opening (deploy decides; the page only offers it)
CONSOLE_STATUSES = frozenset({"running", "starting", "rebooting"})
# the owner's actions: the path deploy takes and what the page says once it is queued
ACTIONS: dict[str, tuple[str, dict[str, Any] | None, str]] = {
    "start": ("start", None, "Start queued: the machine boots."),
    "stop": ("stop", {"hard": False}, "Stop queued: the machine shuts down."),
    "poweroff": ("stop", {"hard": True}, "Power-off queued."),
    "reboot": ("reboot", None, "Reboot queued."),
    "reset": ("reset", None, "Reset queued: the machine restarts at once."),
    "reinstall": (
        "reinstall",
        None,
        "Reinstall queued: the disk is made fresh from the image, with the same key.",
    ),
}
KINDS = {
    "kvm": "Virtual machine (KVM): its own kernel",
    "container": "System container: the node has no KVM, so it shares the node's kernel",
}


def vps_path(vps_id: str) -> str:
    return f"{API}/{vps_id}"


async def plans(backends: Backends, caller: Caller) -> list[dict[str, Any]]:
    return await backends.deploy.get(f"{API}/plans", caller)


async def machines(backends: Backends, caller: Caller, table: Table) -> dict[str, Any]:
    return await backends.deploy.get(API, caller, **table.api_params())


async def machine(backends: Backends, caller: Caller, vps_id: str) -> dict[str, Any]:
    return await backends.deploy.get(vps_path(vps_id), caller)


async def order(backends: Backends, caller: Caller, body: dict[str, Any]) -> dict[str, Any]:
    return await backends.deploy.post(API, caller, body)


async def act(backends: Backends, caller: Caller, vps_id: str, action: str) -> dict[str, Any]:
    path, body, _ = ACTIONS[action]
    return await backends.deploy.post(f"{vps_path(vps_id)}/actions/{path}", caller, body)


async def resize(
    backends: Backends, caller: Caller, vps_id: str, body: dict[str, int]
) -> dict[str, Any]:
    return await backends.deploy.post(f"{vps_path(vps_id)}/resize", caller, body)


async def delete(backends: Backends, caller: Caller, vps_id: str) -> dict[str, Any]:
    return await backends.deploy.delete(vps_path(vps_id), caller)


async def operations(backends: Backends, caller: Caller, vps_id: str) -> dict[str, Any]:
    return await backends.deploy.get(f"{vps_path(vps_id)}/operations", caller, size=8)


async def snapshots(backends: Backends, caller: Caller, vps_id: str) -> list[dict[str, Any]]:
    return await backends.deploy.get(f"{vps_path(vps_id)}/snapshots", caller)


async def take_snapshot(
    backends: Backends, caller: Caller, vps_id: str, name: str | None
) -> dict[str, Any]:
    body = {"name": name} if name else None
    return await backends.deploy.post(f"{vps_path(vps_id)}/snapshots", caller, body)


async def restore_snapshot(
    backends: Backends, caller: Caller, vps_id: str, snapshot_id: str
) -> dict[str, Any]:
    path = f"{vps_path(vps_id)}/snapshots/{snapshot_id}/restore"
    return await backends.deploy.post(path, caller)


async def delete_snapshot(
    backends: Backends, caller: Caller, vps_id: str, snapshot_id: str
) -> dict[str, Any]:
    return await backends.deploy.delete(f"{vps_path(vps_id)}/snapshots/{snapshot_id}", caller)


async def console_token(backends: Backends, caller: Caller, vps_id: str) -> dict[str, Any]:
    return await backends.deploy.post(f"{vps_path(vps_id)}/console-tokens", caller)
