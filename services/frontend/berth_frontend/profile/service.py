"""The signed-in person's own account, over auth's /me API."""

from typing import Any

from berth_frontend.web.backends import Backends, Caller

ME = "/api/auth/v1/me"


async def me(backends: Backends, caller: Caller) -> dict[str, Any]:
    return await backends.auth.get(ME, caller)


async def update(backends: Backends, caller: Caller, *, name: str, phone: str | None):
    return await backends.auth.patch(ME, caller, {"name": name, "phone": phone or None})


async def change_password(backends: Backends, caller: Caller, *, current: str, new: str) -> None:
    await backends.auth.post(
        f"{ME}/password", caller, {"current_password": current, "new_password": new}
    )


async def sessions(backends: Backends, caller: Caller, page: int) -> dict[str, Any]:
    return await backends.auth.get(f"{ME}/sessions", caller, page=page, size=10)


async def revoke_session(backends: Backends, caller: Caller, session_id: str) -> None:
    await backends.auth.delete(f"{ME}/sessions/{session_id}", caller)


async def login_history(
    backends: Backends, caller: Caller, page: int | None = None, size: int = 10
) -> dict[str, Any]:
    return await backends.auth.get(f"{ME}/login-history", caller, page=page, size=size)
