"""Administration over auth's admin API: users and machine clients."""

from typing import Any

from berth_frontend.web.backends import Backends, Caller
from berth_frontend.web.tables import Table

USERS = "/api/auth/v1/admin/users"
CLIENTS = "/api/auth/v1/admin/clients"
ROLES = ("user", "support", "oncall", "admin")


async def users(backends: Backends, caller: Caller, table: Table) -> dict[str, Any]:
    return await backends.auth.get(USERS, caller, **table.api_params())


async def count_users(backends: Backends, caller: Caller, **filters: Any) -> int:
    page = await backends.auth.get(USERS, caller, size=1, **filters)
    return int(page["total"])


async def user(backends: Backends, caller: Caller, user_id: str) -> dict[str, Any]:
    return await backends.auth.get(f"{USERS}/{user_id}", caller)


async def block(backends: Backends, caller: Caller, user_id: str, reason: str) -> None:
    await backends.auth.post(f"{USERS}/{user_id}/block", caller, {"reason": reason})


async def unblock(backends: Backends, caller: Caller, user_id: str) -> None:
    await backends.auth.post(f"{USERS}/{user_id}/unblock", caller)


async def set_roles(backends: Backends, caller: Caller, user_id: str, roles: list[str]) -> None:
    await backends.auth.put(f"{USERS}/{user_id}/roles", caller, {"roles": roles})


async def clients(backends: Backends, caller: Caller, table: Table) -> dict[str, Any]:
    return await backends.auth.get(CLIENTS, caller, **table.api_params())


async def count_clients(backends: Backends, caller: Caller) -> int:
    page = await backends.auth.get(CLIENTS, caller, size=1, revoked="false")
    return int(page["total"])


async def scopes(backends: Backends, caller: Caller) -> list[dict[str, Any]]:
    return await backends.auth.get(f"{CLIENTS}/scopes", caller)


async def create_client(
    backends: Backends, caller: Caller, name: str, scopes: list[str]
) -> dict[str, Any]:
    return await backends.auth.post(CLIENTS, caller, {"name": name, "scopes": scopes})


async def revoke_client(backends: Backends, caller: Caller, client_id: str) -> None:
    await backends.auth.post(f"{CLIENTS}/{client_id}/revoke", caller)


async def rotate_secret(backends: Backends, caller: Caller, client_id: str) -> dict[str, Any]:
    return await backends.auth.post(f"{CLIENTS}/{client_id}/rotate-secret", caller)
