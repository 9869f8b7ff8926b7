"""The support desk's screens (/support, support staff and admins): the queue with its
filters, and a ticket with its context panel, thread, internal notes (visibly apart), and
the forms to reply (canned replies too), note, assign, merge and change it."""

import re
import uuid
from typing import Any

from fastapi import Request
from starlette.responses import Response

from berth_frontend.desk import service
from berth_frontend.panel.api import show
from berth_frontend.support.api import by_message, passed_download
from berth_frontend.support.uploads import TooManyFiles, files_of, send_files
from berth_frontend.web import flash
from berth_frontend.web.access import SupportViewer, support_router
from berth_frontend.web.backends import ApiError, ServiceDown, sections
from berth_frontend.web.forms import read_form
from berth_frontend.web.screens import SUPPORT, ScreenContext
from berth_frontend.web.tables import table_state

router = support_router()
UUID = re.compile(r"^[0-9a-fA-F-]{36}$")
SLUG = re.compile(r"^[a-z0-9][a-z0-9-]{0,39}$")


async def queue(ctx: ScreenContext) -> dict[str, Any]:
    table = table_state(
        ctx.query,
        filters={
            "department": None,
            "status": service.STATUSES,
            "priority": service.PRIORITIES,
            "assignee": None,
            "sla": service.SLA_STATES,
            "q": None,
        },
    )
    if not SLUG.match(table.filters.get("department", "x")):
        table.filters.pop("department", None)
    assignee = table.filters.get("assignee", "me")
    if assignee not in ("me", "none") and not UUID.match(assignee):
        table.filters.pop("assignee", None)
    found, departments = await sections(
        service.queue(ctx.backends, ctx.viewer.caller, table),
        service.departments(ctx.backends, ctx.viewer.caller),
    )
    return {
        "tickets": found,
        "departments": departments,
        "table": table,
        "statuses": service.STATUSES,
        "priorities": service.PRIORITIES,
        "sla_states": service.SLA_STATES,
    }


async def ticket(ctx: ScreenContext) -> dict[str, Any]:
    ticket_id = str(ctx.params["ticket_id"])
    found = await service.ticket(ctx.backends, ctx.viewer.caller, ticket_id)
    files, canned = await sections(
        service.files(ctx.backends, ctx.viewer.caller, ticket_id),
        service.canned_replies(ctx.backends, ctx.viewer.caller),
    )
    by_note: dict[str, list[dict[str, Any]]] = {}
    if files.ok:
        for item in files.data:
            if item.get("note_id"):
                by_note.setdefault(str(item["note_id"]), []).append(item)
    public = [f for f in files.data if not f.get("note_id")] if files.ok else []
    return {
        "ticket": found,
        "title": f"{found['number']} · {found['subject']}",
        "files": files,
        "files_by_message": by_message(public),
        "files_by_note": by_note,
        "canned": canned,
        "statuses": service.REPLY_STATUSES,
        "priorities": service.PRIORITIES,
        "viewer_id": ctx.viewer.user_id,
    }


def _ticket_screen(ticket_id: uuid.UUID) -> str:
    return f"tickets/{ticket_id}"


def _with_files(done: str, problems: list[str]) -> dict[str, Any]:
    if not problems:
        return flash.success(done)
    return flash.failure(f"{done} Some files were not attached: " + "; ".join(problems))


async def _again(request: Request, viewer: Any, ticket_id: uuid.UUID, outcome: dict) -> Response:
    return await show(
        request, viewer, SUPPORT, _ticket_screen(ticket_id), full=False, flash=outcome
    )


@router.post("/support/partials/tickets/{ticket_id}/reply")
async def reply(request: Request, viewer: SupportViewer, ticket_id: uuid.UUID) -> Response:
    form = await read_form(request, multiline=("body",))
    backends, tid = request.app.state.backends, str(ticket_id)
    body: dict[str, Any] = {"status": form.get("status") or "waiting_customer"}
    if form.get("body"):
        body["body"] = form.get("body")
    if UUID.match(form.get("canned_reply_id")):
        body["canned_reply_id"] = form.get("canned_reply_id")
    try:
        files = await files_of(request)
    except TooManyFiles as exc:
        return await _again(request, viewer, ticket_id, flash.failure(str(exc)))
    if "body" not in body and "canned_reply_id" not in body:
        return await _again(request, viewer, ticket_id, flash.failure("Write a reply first."))
    try:
        sent = await service.reply(backends, viewer.caller, tid, body)
    except (ApiError, ServiceDown) as exc:
        if isinstance(exc, ApiError) and exc.status in (401, 404):
            raise
        return await _again(request, viewer, ticket_id, flash.from_exception(exc))
    problems = await send_files(
        files,
        lambda name, data: service.attach_to_message(
            backends, viewer.caller, tid, sent["id"], name, data
        ),
    )
    return await _again(request, viewer, ticket_id, _with_files("Reply sent.", problems))


@router.post("/support/partials/tickets/{ticket_id}/notes")
async def note(request: Request, viewer: SupportViewer, ticket_id: uuid.UUID) -> Response:
    form = await read_form(request, multiline=("body",))
    backends, tid = request.app.state.backends, str(ticket_id)
    try:
        files = await files_of(request)
    except TooManyFiles as exc:
        return await _again(request, viewer, ticket_id, flash.failure(str(exc)))
    if not form.get("body"):
        return await _again(request, viewer, ticket_id, flash.failure("Write the note first."))
    try:
        added = await service.add_note(backends, viewer.caller, tid, form.get("body"))
    except (ApiError, ServiceDown) as exc:
        if isinstance(exc, ApiError) and exc.status in (401, 404):
            raise
        return await _again(request, viewer, ticket_id, flash.from_exception(exc))
    problems = await send_files(
        files,
        lambda name, data: service.attach_to_note(
            backends, viewer.caller, tid, added["id"], name, data
        ),
    )
    return await _again(request, viewer, ticket_id, _with_files("Note added.", problems))


@router.post("/support/partials/tickets/{ticket_id}/change")
async def change(request: Request, viewer: SupportViewer, ticket_id: uuid.UUID) -> Response:
    form = await read_form(request)
    body = {
        k: form.get(k)
        for k, allowed in (("status", service.REPLY_STATUSES), ("priority", service.PRIORITIES))
        if form.get(k) in allowed
    }
    if not body:
        outcome = flash.failure("Nothing to change.")
    else:
        outcome = await flash.outcome_of(
            service.change(request.app.state.backends, viewer.caller, str(ticket_id), body),
            "Ticket updated.",
        )
    return await _again(request, viewer, ticket_id, outcome)


@router.post("/support/partials/tickets/{ticket_id}/assign")
async def assign(request: Request, viewer: SupportViewer, ticket_id: uuid.UUID) -> Response:
    form = await read_form(request)
    choice = form.get("assignee")
    if choice == "me":
        body: dict[str, Any] = {"assignee_id": viewer.user_id}
    elif choice == "round_robin":
        body = {"round_robin": True}
    elif choice == "none":
        body = {"assignee_id": None}
    elif UUID.match(choice):
        body = {"assignee_id": choice}
    else:
        return await _again(request, viewer, ticket_id, flash.failure("Choose an assignee."))
    outcome = await flash.outcome_of(
        service.assign(request.app.state.backends, viewer.caller, str(ticket_id), body),
        "Assignment saved.",
    )
    return await _again(request, viewer, ticket_id, outcome)


@router.post("/support/partials/tickets/{ticket_id}/merge")
async def merge(request: Request, viewer: SupportViewer, ticket_id: uuid.UUID) -> Response:
    form = await read_form(request)
    into = form.get("into_ticket_id")
    if not UUID.match(into):
        return await _again(
            request, viewer, ticket_id, flash.failure("Give the id of the ticket to merge into.")
        )
    try:
        target = await service.merge(
            request.app.state.backends, viewer.caller, str(ticket_id), into
        )
    except (ApiError, ServiceDown) as exc:
        if isinstance(exc, ApiError) and exc.status == 401:
            raise
        return await _again(request, viewer, ticket_id, flash.from_exception(exc))
    outcome = flash.success(f"Merged into {target['number']}.")
    path = f"tickets/{target['id']}"
    return await show(request, viewer, SUPPORT, path, full=False, flash=outcome, push=True)


@router.get("/support/files/{attachment_id}")
async def download(request: Request, viewer: SupportViewer, attachment_id: uuid.UUID) -> Response:
    found = await service.download(request.app.state.backends, viewer.caller, str(attachment_id))
    return await passed_download(found)
