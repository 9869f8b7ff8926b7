"""On-call queue pages (/ops/queues): every Celery queue of every service, and one queue's
page with its charts, task facts, workers, deploy markers, alerts and thresholds. For the
oncall and admin roles only (the gateway's /ops/** rule, and ops_router here)."""

import re
from typing import Any

from fastapi import Request
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

from berth_frontend.ops import service
from berth_frontend.panel.api import show
from berth_frontend.web import flash
from berth_frontend.web.access import OncallViewer, ops_router
from berth_frontend.web.backends import sections
from berth_frontend.web.forms import FormData, read_form
from berth_frontend.web.screens import OPS, ScreenContext

router = ops_router()

QUEUE_NAME = re.compile(r"^[A-Za-z0-9._:-]{1,200}$")
MAX_SECONDS = 7 * 86400


def _queue_name(name: str) -> str:
    if not QUEUE_NAME.match(name):
        raise StarletteHTTPException(404)
    return name


async def queues(ctx: ScreenContext) -> dict[str, Any]:
    (found,) = await sections(service.queues(ctx.backends, ctx.viewer.caller))
    return {"queues": found}


async def queue(ctx: ScreenContext) -> dict[str, Any]:
    name = _queue_name(str(ctx.params["queue"]))
    window = ctx.query.get("window", "1h")
    if window not in service.WINDOWS:
        window = "1h"
    (detail,) = await sections(service.queue(ctx.backends, ctx.viewer.caller, name, window))
    return {
        "name": name,
        "title": f"Queue {name}",
        "detail": detail,
        "window": window,
        "windows": service.WINDOWS,
        "charts": service.charts(detail.data) if detail.ok else None,
    }


def _seconds(form: FormData, field: str, minimum: int) -> int | None:
    text = form.get(field)
    if not text:
        return None
    if not text.isdigit() or not minimum <= int(text) <= MAX_SECONDS:
        form.errors[field] = f"A whole number of seconds from {minimum} to {MAX_SECONDS}."
        return None
    return int(text)


@router.post("/ops/partials/queues/{name}/threshold")
async def set_threshold(request: Request, viewer: OncallViewer, name: str) -> Response:
    name = _queue_name(name)
    form = await read_form(request)
    body = {
        "oldest_age_seconds": _seconds(form, "oldest_age_seconds", 1),
        "no_consumers_seconds": _seconds(form, "no_consumers_seconds", 0),
        "channel_ids": form.getlist("channel_ids")[:20],
    }
    if not form.ok:
        outcome = flash.failure(" ".join(sorted(set(form.errors.values()))))
    else:
        outcome = await flash.outcome_of(
            service.set_threshold(request.app.state.backends, viewer.caller, name, body),
            f"Thresholds of {name} saved.",
        )
    return await show(request, viewer, OPS, f"queues/{name}", full=False, flash=outcome)


# /ops/partials must be declared before the pages, whose path would swallow it
@router.get("/ops/partials/{path:path}")
async def ops_partial(request: Request, viewer: OncallViewer, path: str) -> Response:
    return await show(request, viewer, OPS, path, full=False)


@router.get("/ops/queues")
async def ops_queues(request: Request, viewer: OncallViewer) -> Response:
    return await show(request, viewer, OPS, "queues", full=True)


@router.get("/ops/queues/{path:path}")
async def ops_queue(request: Request, viewer: OncallViewer, path: str) -> Response:
    return await show(request, viewer, OPS, f"queues/{path}", full=True)
