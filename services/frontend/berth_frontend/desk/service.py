"""The support desk over the tickets staff API: the queue, a ticket with its context, notes
and files, and what staff do to it (reply, note, assign, merge, status and priority)."""

from typing import Any

from berth_frontend.web.backends import Backends, Caller
from berth_frontend.web.tables import Table

API = "/api/tickets/v1"
STAFF = f"{API}/staff"
STATUSES = ("open", "waiting_customer", "closed", "merged")
PRIORITIES = ("low", "normal", "high", "urgent")
SLA_STATES = ("ok", "at_risk", "breached")
REPLY_STATUSES = ("waiting_customer", "open", "closed")


def ticket_path(ticket_id: str) -> str:
    return f"{STAFF}/tickets/{ticket_id}"


async def queue(backends: Backends, caller: Caller, table: Table) -> dict[str, Any]:
    return await backends.tickets.get(f"{STAFF}/tickets", caller, **table.api_params())


async def ticket(backends: Backends, caller: Caller, ticket_id: str) -> dict[str, Any]:
    return await backends.tickets.get(ticket_path(ticket_id), caller)


async def files(backends: Backends, caller: Caller, ticket_id: str) -> list[dict[str, Any]]:
    return await backends.tickets.get(f"{ticket_path(ticket_id)}/attachments", caller)


async def departments(backends: Backends, caller: Caller) -> list[dict[str, Any]]:
    return await backends.tickets.get(f"{STAFF}/departments", caller)


async def canned_replies(
    backends: Backends, caller: Caller, department_id: str | None = None
) -> list[dict[str, Any]]:
    return await backends.tickets.get(
        f"{STAFF}/canned-replies", caller, department_id=department_id
    )


async def reply(
    backends: Backends, caller: Caller, ticket_id: str, body: dict[str, Any]
) -> dict[str, Any]:
    return await backends.tickets.post(f"{ticket_path(ticket_id)}/replies", caller, body)


async def add_note(backends: Backends, caller: Caller, ticket_id: str, body: str) -> dict[str, Any]:
    return await backends.tickets.post(f"{ticket_path(ticket_id)}/notes", caller, {"body": body})


async def change(
    backends: Backends, caller: Caller, ticket_id: str, body: dict[str, Any]
) -> dict[str, Any]:
    return await backends.tickets.patch(ticket_path(ticket_id), caller, body)


async def assign(
    backends: Backends, caller: Caller, ticket_id: str, body: dict[str, Any]
) -> dict[str, Any]:
    return await backends.tickets.post(f"{ticket_path(ticket_id)}/assign", caller, body)


async def merge(
    backends: Backends, caller: Caller, ticket_id: str, into_ticket_id: str
) -> dict[str, Any]:
    return await backends.tickets.post(
        f"{ticket_path(ticket_id)}/merge", caller, {"into_ticket_id": into_ticket_id}
    )


async def attach_to_message(
    backends: Backends, caller: Caller, ticket_id: str, message_id: str, name: str, data: bytes
) -> dict[str, Any]:
    return await backends.tickets.upload(
        f"{API}/tickets/{ticket_id}/messages/{message_id}/attachments", caller, name, data
    )


async def attach_to_note(
    backends: Backends, caller: Caller, ticket_id: str, note_id: str, name: str, data: bytes
) -> dict[str, Any]:
    return await backends.tickets.upload(
        f"{ticket_path(ticket_id)}/notes/{note_id}/attachments", caller, name, data
    )


async def download(backends: Backends, caller: Caller, attachment_id: str):
    return await backends.tickets.download(f"{API}/attachments/{attachment_id}", caller)
