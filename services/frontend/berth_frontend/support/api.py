"""Support in the panel: my tickets (search, filter), open a ticket (with files, about one of
my apps, invoices or incidents), a ticket's thread (reply with files, close, reopen, rate),
and downloads of a ticket's files through the frontend (the tickets service decides)."""

import asyncio
import re
import uuid
from collections.abc import Awaitable
from typing import Any

from fastapi import Request
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

from berth_frontend.panel.api import show
from berth_frontend.support import service
from berth_frontend.support.uploads import TooManyFiles, files_of, send_files
from berth_frontend.web import flash
from berth_frontend.web.access import CurrentViewer, panel_router
from berth_frontend.web.backends import ApiError, Section, ServiceDown, section
from berth_frontend.web.forms import read_form
from berth_frontend.web.screens import PANEL, ScreenContext
from berth_frontend.web.tables import table_state

router = panel_router()
LINK = re.compile(r"^(app|invoice|incident):([0-9a-f-]{36})$")
#: headers of a download passed on as the tickets service set them
PASSED_HEADERS = (
    "content-type",
    "content-disposition",
    "content-security-policy",
    "x-content-type-options",
    "cross-origin-resource-policy",
)


async def tickets(ctx: ScreenContext) -> dict[str, Any]:
    table = table_state(ctx.query, filters={"status": service.STATUSES, "q": None})
    found = await section(service.tickets(ctx.backends, ctx.viewer.caller, table))
    return {"tickets": found, "table": table, "statuses": service.STATUSES}


async def optional(call: Awaitable[Any]) -> Section[Any]:
    """A part of a page that may be missing for any reason (a service without that list
    answers 404): never the whole page's error, except an ended session."""
    try:
        return Section(data=await call)
    except ServiceDown as exc:
        return Section(down=exc)
    except ApiError as exc:
        if exc.status == 401:
            raise
        return Section(error=exc)


async def new_ticket(ctx: ScreenContext) -> dict[str, Any]:
    sources = service.link_sources(ctx.backends, ctx.viewer.caller)
    departments, *found = await asyncio.gather(
        section(service.departments(ctx.backends, ctx.viewer.caller)),
        *(optional(call) for call in sources.values()),
    )
    return {
        "departments": departments,
        "links": dict(zip(sources, found, strict=True)),
        "priorities": service.PRIORITIES,
        "form": {"priority": "normal", "link": ctx.query.get("link", "")},
        "errors": {},
    }


def by_message(files: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    grouped: dict[str, list[dict[str, Any]]] = {}
    for item in files:
        grouped.setdefault(str(item["message_id"]), []).append(item)
    return grouped


async def ticket(ctx: ScreenContext) -> dict[str, Any]:
    ticket_id = str(ctx.params["ticket_id"])
    found = await service.ticket(ctx.backends, ctx.viewer.caller, ticket_id)
    files = await section(service.files(ctx.backends, ctx.viewer.caller, ticket_id))
    return {
        "ticket": found,
        "title": f"{found['number']} · {found['subject']}",
        "files": files,
        "files_by_message": by_message(files.data) if files.ok else {},
    }


def _link(value: str) -> dict[str, str] | None:
    found = LINK.match(value)
    return {"kind": found.group(1), "id": found.group(2)} if found else None


@router.post("/partials/support")
async def open_ticket(request: Request, viewer: CurrentViewer) -> Response:
    form = await read_form(request, multiline=("body",))
    backends = request.app.state.backends
    for name in ("department", "subject", "body"):
        form.require(name)
    if form.get("link") and _link(form.get("link")) is None:
        form.errors["link"] = "Choose one of the listed items."
    try:
        files = await files_of(request)
    except TooManyFiles as exc:
        form.errors["files"] = str(exc)
        files = []
    if form.ok:
        body = {
            "department": form.get("department"),
            "priority": form.get("priority") or "normal",
            "subject": form.get("subject"),
            "body": form.get("body"),
            "link": _link(form.get("link")),
        }
        try:
            created = await service.open_ticket(backends, viewer.caller, body)
        except ApiError as exc:
            if exc.status == 401:
                raise
            form.absorb(exc)
        except ServiceDown as exc:
            form.errors["_"] = flash.from_exception(exc)["message"]
        else:
            first = created["messages"][0]["id"]
            problems = await send_files(
                files,
                lambda name, content: service.attach(
                    backends, viewer.caller, created["id"], first, name, content
                ),
            )
            outcome = _with_files(f"Ticket {created['number']} opened.", problems)
            path = f"support/{created['id']}"
            return await show(request, viewer, PANEL, path, full=False, flash=outcome, push=True)
    return await show(
        request,
        viewer,
        PANEL,
        "support/new",
        full=False,
        extra={"form": form.values, "errors": form.errors},
    )


def _with_files(done: str, problems: list[str]) -> dict[str, Any]:
    if not problems:
        return flash.success(done)
    return flash.failure(f"{done} Some files were not attached: " + "; ".join(problems))


@router.post("/partials/support/{ticket_id}/reply")
async def reply(request: Request, viewer: CurrentViewer, ticket_id: uuid.UUID) -> Response:
    form = await read_form(request, multiline=("body",))
    backends, tid = request.app.state.backends, str(ticket_id)
    try:
        files = await files_of(request)
    except TooManyFiles as exc:
        outcome = flash.failure(str(exc))
    else:
        if not form.get("body"):
            outcome = flash.failure("Write a message first.")
        else:
            try:
                sent = await service.reply(backends, viewer.caller, tid, form.get("body"))
            except (ApiError, ServiceDown) as exc:
                if isinstance(exc, ApiError) and exc.status in (401, 404):
                    raise
                outcome = flash.from_exception(exc)
            else:
                problems = await send_files(
                    files,
                    lambda name, content: service.attach(
                        backends, viewer.caller, tid, sent["id"], name, content
                    ),
                )
                outcome = _with_files("Reply sent.", problems)
    return await show(request, viewer, PANEL, f"support/{tid}", full=False, flash=outcome)


@router.post("/partials/support/{ticket_id}/close")
async def close(request: Request, viewer: CurrentViewer, ticket_id: uuid.UUID) -> Response:
    outcome = await flash.outcome_of(
        service.close(request.app.state.backends, viewer.caller, str(ticket_id)),
        "Ticket closed. You can rate the answer below.",
    )
    return await show(request, viewer, PANEL, f"support/{ticket_id}", full=False, flash=outcome)


@router.post("/partials/support/{ticket_id}/reopen")
async def reopen(request: Request, viewer: CurrentViewer, ticket_id: uuid.UUID) -> Response:
    form = await read_form(request, multiline=("body",))
    outcome = await flash.outcome_of(
        service.reopen(
            request.app.state.backends, viewer.caller, str(ticket_id), form.get("body") or None
        ),
        "Ticket reopened.",
    )
    return await show(request, viewer, PANEL, f"support/{ticket_id}", full=False, flash=outcome)


@router.post("/partials/support/{ticket_id}/rating")
async def rate(request: Request, viewer: CurrentViewer, ticket_id: uuid.UUID) -> Response:
    form = await read_form(request, multiline=("comment",))
    rating = form.get("rating")
    if rating not in ("1", "2", "3", "4", "5"):
        outcome = flash.failure("Choose a rating from 1 to 5.")
    else:
        outcome = await flash.outcome_of(
            service.rate(
                request.app.state.backends,
                viewer.caller,
                str(ticket_id),
                int(rating),
                form.get("comment") or None,
            ),
            "Thank you for your rating.",
        )
    return await show(request, viewer, PANEL, f"support/{ticket_id}", full=False, flash=outcome)


async def passed_download(found: Any) -> Response:
    headers = {k: v for k, v in found.headers.items() if k.lower() in PASSED_HEADERS}
    headers.setdefault("content-disposition", "attachment")
    headers["cache-control"] = "private, no-store"
    if "content-security-policy" not in headers:
        headers["content-security-policy"] = "default-src 'none'; sandbox"
    headers["x-content-type-options"] = "nosniff"
    media = headers.pop("content-type", "application/octet-stream")
    return Response(found.content, media_type=media, headers=headers)


@router.get("/panel/support/files/{attachment_id}")
async def download(request: Request, viewer: CurrentViewer, attachment_id: uuid.UUID) -> Response:
    try:
        found = await service.download(
            request.app.state.backends, viewer.caller, str(attachment_id)
        )
    except ApiError as exc:
        if exc.status in (403, 404):
            raise StarletteHTTPException(exc.status) from exc
        raise
    return await passed_download(found)
