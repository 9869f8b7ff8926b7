"""The admin area's user and machine-client screens, and their actions."""

import uuid
from typing import Any

from fastapi import Request
from starlette.responses import Response

from berth_frontend.admin import service
from berth_frontend.admin.apps import service as deploy
from berth_frontend.admin.billing import service as billing
from berth_frontend.admin.billing.service import AccountState
from berth_frontend.panel.api import show
from berth_frontend.web import flash
from berth_frontend.web.access import AdminViewer, admin_router
from berth_frontend.web.backends import ApiError, ServiceDown, section, sections
from berth_frontend.web.forms import read_form
from berth_frontend.web.screens import ADMIN, ScreenContext
from berth_frontend.web.tables import table_state

router = admin_router(prefix="/admin/partials")

BOOL = ("true", "false")


async def overview(ctx: ScreenContext) -> dict[str, Any]:
    b, caller = ctx.backends, ctx.viewer.caller
    users, blocked, unverified, clients, negative, suspended, runtime = await sections(
        service.count_users(b, caller),
        service.count_users(b, caller, blocked="true"),
        service.count_users(b, caller, verified="false"),
        service.count_clients(b, caller),
        billing.count_accounts(b, caller, AccountState.NEGATIVE),
        billing.count_accounts(b, caller, AccountState.SUSPENDED),
        deploy.runtime(b, caller),
    )
    return {
        "runtime": runtime,
        "users": users,
        "blocked": blocked,
        "unverified": unverified,
        "clients": clients,
        "negative": negative,
        "suspended": suspended,
    }


async def users(ctx: ScreenContext) -> dict[str, Any]:
    table = table_state(
        ctx.query,
        sorts=("created_at", "email"),
        default_sort="-created_at",
        filters={"q": None, "role": service.ROLES, "blocked": BOOL, "verified": BOOL},
    )
    page = await section(service.users(ctx.backends, ctx.viewer.caller, table))
    return {"users": page, "table": table, "roles": service.ROLES}


async def user(ctx: ScreenContext) -> dict[str, Any]:
    found = await service.user(ctx.backends, ctx.viewer.caller, str(ctx.params["user_id"]))
    return {"user": found, "title": found["email"], "roles": service.ROLES}


async def clients(ctx: ScreenContext) -> dict[str, Any]:
    table = table_state(ctx.query, filters={"revoked": BOOL})
    page, scopes = await sections(
        service.clients(ctx.backends, ctx.viewer.caller, table),
        service.scopes(ctx.backends, ctx.viewer.caller),
    )
    return {"clients": page, "scopes": scopes, "table": table}


@router.post("/users/{user_id}/block")
async def block_user(request: Request, viewer: AdminViewer, user_id: uuid.UUID) -> Response:
    form = await read_form(request)
    reason = form.get("reason")
    if not reason:
        outcome = flash.failure("Give a reason for blocking (the user's audit trail keeps it).")
    else:
        outcome = await flash.outcome_of(
            service.block(request.app.state.backends, viewer.caller, str(user_id), reason),
            "The user is blocked and signed out everywhere.",
        )
    return await show(request, viewer, ADMIN, f"users/{user_id}", full=False, flash=outcome)


@router.post("/users/{user_id}/unblock")
async def unblock_user(request: Request, viewer: AdminViewer, user_id: uuid.UUID) -> Response:
    outcome = await flash.outcome_of(
        service.unblock(request.app.state.backends, viewer.caller, str(user_id)),
        "The user is unblocked.",
    )
    return await show(request, viewer, ADMIN, f"users/{user_id}", full=False, flash=outcome)


@router.post("/users/{user_id}/roles")
async def set_roles(request: Request, viewer: AdminViewer, user_id: uuid.UUID) -> Response:
    form = await read_form(request)
    roles = [r for r in form.getlist("roles") if r in service.ROLES]
    outcome = await flash.outcome_of(
        service.set_roles(request.app.state.backends, viewer.caller, str(user_id), roles),
        "Roles saved; they apply from the user's next token (within minutes).",
    )
    return await show(request, viewer, ADMIN, f"users/{user_id}", full=False, flash=outcome)


@router.post("/clients")
async def create_client(request: Request, viewer: AdminViewer) -> Response:
    form = await read_form(request)
    name, scopes = form.get("name"), form.getlist("scopes")
    if not name or not scopes:
        outcome = flash.failure("A client needs a name and at least one scope.")
    else:
        try:
            created = await service.create_client(
                request.app.state.backends, viewer.caller, name, scopes
            )
        except (ApiError, ServiceDown) as exc:
            if isinstance(exc, ApiError) and exc.status == 401:
                raise
            outcome = flash.from_exception(exc)
        else:
            outcome = flash.success(
                f"Client {created['client_id']} created. Copy its secret now: "
                "it is shown only this once.",
                secret=created["client_secret"],
                client_id=created["client_id"],
            )
    return await show(request, viewer, ADMIN, "clients", full=False, flash=outcome)


@router.post("/clients/{client_id}/revoke")
async def revoke_client(request: Request, viewer: AdminViewer, client_id: uuid.UUID) -> Response:
    outcome = await flash.outcome_of(
        service.revoke_client(request.app.state.backends, viewer.caller, str(client_id)),
        "The client is revoked; it can no longer get tokens.",
    )
    return await show(request, viewer, ADMIN, "clients", full=False, flash=outcome)


@router.post("/clients/{client_id}/rotate-secret")
async def rotate_secret(request: Request, viewer: AdminViewer, client_id: uuid.UUID) -> Response:
    try:
        rotated = await service.rotate_secret(
            request.app.state.backends, viewer.caller, str(client_id)
        )
    except (ApiError, ServiceDown) as exc:
        if isinstance(exc, ApiError) and exc.status == 401:
            raise
        outcome = flash.from_exception(exc)
    else:
        outcome = flash.success(
            f"New secret for {rotated['client_id']}; the old one no longer works. "
            "Copy it now: it is shown only this once.",
            secret=rotated["client_secret"],
            client_id=rotated["client_id"],
        )
    return await show(request, viewer, ADMIN, "clients", full=False, flash=outcome)
