"""A person's alert channels over monitoring's API: list, add, enable/disable, test, remove."""

from typing import Any

from berth_frontend.web.backends import Backends, Caller

API = "/api/monitoring/v1/channels"
KINDS = ("email", "webhook", "telegram")


async def channels(backends: Backends, caller: Caller, page: int = 1) -> dict[str, Any]:
    return await backends.monitoring.get(API, caller, page=page, size=50)


async def create(backends: Backends, caller: Caller, body: dict[str, Any]) -> dict[str, Any]:
    return await backends.monitoring.post(API, caller, json=body)


async def set_enabled(
    backends: Backends, caller: Caller, channel_id: str, enabled: bool
) -> dict[str, Any]:
    return await backends.monitoring.patch(
        f"{API}/{channel_id}", caller, json={"is_enabled": enabled}
    )


async def test(backends: Backends, caller: Caller, channel_id: str) -> dict[str, Any]:
    return await backends.monitoring.post(f"{API}/{channel_id}/test", caller)


async def delete(backends: Backends, caller: Caller, channel_id: str) -> None:
    await backends.monitoring.delete(f"{API}/{channel_id}", caller)


def body_of(kind: str, values: dict[str, str]) -> dict[str, Any]:
    """The API's create body for the form's kind: only that kind's fields."""
    body: dict[str, Any] = {"kind": kind, "name": values.get("name", "")}
    if kind == "email":
        body["address"] = values.get("address", "")
    elif kind == "webhook":
        body["url"] = values.get("url", "")
    else:
        body["chat_id"] = values.get("chat_id", "")
        body["bot_token"] = values.get("bot_token", "")
    return body
