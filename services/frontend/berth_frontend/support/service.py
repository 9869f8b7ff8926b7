"""A customer's support tickets over the tickets API, their files, and the things of theirs a
ticket can be about (apps from deploy, invoices from billing, incidents from monitoring)."""

from collections.abc import Awaitable
from typing import Any

from berth_frontend.web.backends import Backends, Caller
from berth_frontend.web.tables import Table

API = "/api/tickets/v1"
STATUSES = ("open", "waiting_customer", "closed", "merged")
PRIORITIES = ("low", "normal", "high", "urgent")
LINK_KINDS = ("app", "invoice", "incident")
# how many of each kind the "about" select offers
LINK_CHOICES = 50


def ticket_path(ticket_id: str) -> str:
    return f"{API}/tickets/{ticket_id}"


async def tickets(backends: Backends, caller: Caller, table: Table) -> dict[str, Any]:
    return await backends.tickets.get(f"{API}/tickets", caller, **table.api_params())


async def ticket(backends: Backends, caller: Caller, ticket_id: str) -> dict[str, Any]:
    return await backends.tickets.get(ticket_path(ticket_id), caller)


async def files(backends: Backends, caller: Caller, ticket_id: str) -> list[dict[str, Any]]:
    return await backends.tickets.get(f"{ticket_path(ticket_id)}/attachments", caller)


async def departments(backends: Backends, caller: Caller) -> list[dict[str, Any]]:
    return await backends.tickets.get(f"{API}/departments", caller)


async def open_ticket(backends: Backends, caller: Caller, body: dict[str, Any]) -> dict[str, Any]:
    return await backends.tickets.post(f"{API}/tickets", caller, body)


async def reply(backends: Backends, caller: Caller, ticket_id: str, body: str) -> dict[str, Any]:
    return await backends.tickets.post(f"{ticket_path(ticket_id)}/messages", caller, {"body": body})


async def close(backends: Backends, caller: Caller, ticket_id: str) -> dict[str, Any]:
    return await backends.tickets.post(f"{ticket_path(ticket_id)}/close", caller)


async def reopen(
    backends: Backends, caller: Caller, ticket_id: str, body: str | None
) -> dict[str, Any]:
    payload = {"body": body} if body else None
    return await backends.tickets.post(f"{ticket_path(ticket_id)}/reopen", caller, payload)


async def rate(
    backends: Backends, caller: Caller, ticket_id: str, rating: int, comment: str | None
) -> dict[str, Any]:
    return await backends.tickets.post(
        f"{ticket_path(ticket_id)}/rating", caller, {"rating": rating, "comment": comment}
    )


async def attach(
    backends: Backends,
    caller: Caller,
    ticket_id: str,
    message_id: str,
    filename: str,
    content: bytes,
) -> dict[str, Any]:
    return await backends.tickets.upload(
        f"{ticket_path(ticket_id)}/messages/{message_id}/attachments", caller, filename, content
    )


async def download(backends: Backends, caller: Caller, attachment_id: str):
    return await backends.tickets.download(f"{API}/attachments/{attachment_id}", caller)


def link_sources(backends: Backends, caller: Caller) -> dict[str, Awaitable[Any]]:
    """The calls listing the viewer's apps, invoices and incidents a new ticket can be about,
    one per service."""
    return {
        "app": backends.deploy.get(
            "/api/deploy/v1/apps", caller, size=LINK_CHOICES, sort="-updated_at"
        ),
        "invoice": backends.billing.get("/api/billing/v1/invoices", caller, size=LINK_CHOICES),
        "incident": backends.monitoring.get(
            "/api/monitoring/v1/incidents", caller, size=LINK_CHOICES
        ),
    }
