"""Status pages over monitoring's API: the owner's pages, and the public read of one."""

from typing import Any

from berth_frontend.web.backends import Backends, Caller

API = "/api/monitoring/v1/status-pages"
PUBLIC_API = "/api/monitoring/v1/public/status"
MONITORS_API = "/api/monitoring/v1/monitors"


async def pages(backends: Backends, caller: Caller) -> dict[str, Any]:
    return await backends.monitoring.get(API, caller, size=50)


async def page(backends: Backends, caller: Caller, page_id: str) -> dict[str, Any]:
    return await backends.monitoring.get(f"{API}/{page_id}", caller)


async def monitors(backends: Backends, caller: Caller) -> dict[str, Any]:
    """The person's monitors to pick from (the first 100, by name)."""
    return await backends.monitoring.get(MONITORS_API, caller, size=100, sort="name")


async def create(backends: Backends, caller: Caller, body: dict[str, Any]) -> dict[str, Any]:
    return await backends.monitoring.post(API, caller, json=body)


async def update(
    backends: Backends, caller: Caller, page_id: str, body: dict[str, Any]
) -> dict[str, Any]:
    return await backends.monitoring.patch(f"{API}/{page_id}", caller, json=body)


async def delete(backends: Backends, caller: Caller, page_id: str) -> None:
    await backends.monitoring.delete(f"{API}/{page_id}", caller)


async def public(backends: Backends, caller: Caller, slug: str) -> dict[str, Any]:
    return await backends.monitoring.get(f"{PUBLIC_API}/{slug}", caller)


def body_of(values: dict[str, str], picked: list[str]) -> dict[str, Any]:
    """The API's body from the form: the picked monitors in order, each with its shown name."""
    return {
        "slug": values.get("slug", "").lower(),
        "title": values.get("title", ""),
        "description": values.get("description", ""),
        "is_published": values.get("is_published") == "on",
        "monitors": [
            {"monitor_id": m, "display_name": values.get(f"display_{m}") or None}
            for m in dict.fromkeys(picked)
        ],
    }


def bar_class(up: float | None) -> str:
    """A day's bar: its colour class by the share of successful checks."""
    if up is None:
        return "bar-none"
    if up >= 0.999:
        return "bar-up"
    if up >= 0.99:
        return "bar-minor"
    if up >= 0.95:
        return "bar-partial"
    return "bar-down"
