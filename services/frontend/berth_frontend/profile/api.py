"""Profile: details, password, sessions and login history (screens and their actions)."""

import uuid
from typing import Any

from fastapi import Request
from starlette.responses import Response

from berth_frontend.panel.api import show
from berth_frontend.profile import service
from berth_frontend.web import flash
from berth_frontend.web.access import CurrentViewer, panel_router
from berth_frontend.web.backends import ApiError, ServiceDown, section
from berth_frontend.web.forms import FormData, read_form
from berth_frontend.web.screens import PANEL, ScreenContext
from berth_frontend.web.tables import table_state
from berth_frontend.web.templating import render

router = panel_router(prefix="/partials/profile")


async def profile(ctx: ScreenContext) -> dict[str, Any]:
    me = await section(service.me(ctx.backends, ctx.viewer.caller))
    return {
        "account": me,
        "account_info": me.data,
        "details_form": _details_form(me.data),
        "password_form": FormData({}),
        "outcome": None,
    }


async def sessions(ctx: ScreenContext) -> dict[str, Any]:
    table = table_state(ctx.query)
    page = await section(service.sessions(ctx.backends, ctx.viewer.caller, table.page))
    return {"sessions": page, "table": table}


async def logins(ctx: ScreenContext) -> dict[str, Any]:
    table = table_state(ctx.query)
    page = await section(service.login_history(ctx.backends, ctx.viewer.caller, table.page))
    return {"logins": page, "table": table}


def _details_form(account: dict[str, Any] | None) -> FormData:
    account = account or {}
    return FormData({"name": account.get("name") or "", "phone": account.get("phone") or ""})


def _fragment(request: Request, template: str, context: dict[str, Any]) -> Response:
    return render(
        request, template, {"fragment": True, "partial_request": True, "flash": None, **context}
    )


@router.post("")
async def update_details(request: Request, viewer: CurrentViewer) -> Response:
    form = await read_form(request)
    if len(form.get("name")) > 120:
        form.errors["name"] = "At most 120 characters."
    outcome = None
    account: dict[str, Any] | None = None
    if form.ok:
        try:
            account = await service.update(
                request.app.state.backends,
                viewer.caller,
                name=form.get("name"),
                phone=form.get("phone") or None,
            )
        except ApiError as exc:
            if exc.status == 401:
                raise
            form.absorb(exc)
        except ServiceDown as exc:
            outcome = flash.from_exception(exc)
        else:
            form = _details_form(account)
            outcome = flash.success("Your details have been saved.")
    if account is None:
        try:
            account = await service.me(request.app.state.backends, viewer.caller)
        except ServiceDown:
            account = None
    return _fragment(
        request,
        "partials/profile/details.html",
        {"details_form": form, "account_info": account, "outcome": outcome},
    )


@router.post("/password")
async def change_password(request: Request, viewer: CurrentViewer) -> Response:
    form = await read_form(request, raw=("current_password", "new_password", "password_confirm"))
    current = form.require("current_password", "Enter your current password.")
    new = form.require("new_password", "Choose a new password.")
    if new and form.get("password_confirm") != new:
        form.errors["password_confirm"] = "The passwords do not match."
    outcome = None
    if form.ok:
        try:
            await service.change_password(
                request.app.state.backends, viewer.caller, current=current, new=new
            )
        except ApiError as exc:
            if exc.status == 401:
                raise
            if exc.code == "invalid_password":
                form.errors["current_password"] = exc.message
            else:
                form.absorb(exc)
        except ServiceDown as exc:
            outcome = flash.from_exception(exc)
        else:
            form = FormData({})
            outcome = flash.success(
                "Your password has been changed; your other sessions were signed out."
            )
    return _fragment(
        request, "partials/profile/password.html", {"password_form": form, "outcome": outcome}
    )


@router.post("/sessions/{session_id}/revoke")
async def revoke_session(
    request: Request, viewer: CurrentViewer, session_id: uuid.UUID
) -> Response:
    outcome = flash.success("The session has been signed out.")
    try:
        await service.revoke_session(request.app.state.backends, viewer.caller, str(session_id))
    except ApiError as exc:
        if exc.status == 401:
            raise
        outcome = flash.from_exception(exc)
    except ServiceDown as exc:
        outcome = flash.from_exception(exc)
    return await show(request, viewer, PANEL, "profile/sessions", full=False, flash=outcome)
