"""The admin area's billing screens: accounts (with ledger and adjustments), payments (with
refunds), plans and prices."""

import re
import uuid
from typing import Any

from fastapi import Request
from starlette.responses import Response

from berth_common.tiers import TIER_PATTERN
from berth_frontend.admin.billing import service
from berth_frontend.panel.api import show
from berth_frontend.support.api import optional
from berth_frontend.web import flash
from berth_frontend.web.access import AdminViewer, admin_router
from berth_frontend.web.backends import sections
from berth_frontend.web.forms import FormData, read_form
from berth_frontend.web.money import to_minor
from berth_frontend.web.screens import ADMIN, ScreenContext
from berth_frontend.web.tables import table_state

router = admin_router(prefix="/admin/partials/billing")

PLAN_KEY = re.compile(r"^[a-z0-9][a-z0-9-]{1,46}[a-z0-9]$")
TIER = re.compile(TIER_PATTERN)


async def accounts(ctx: ScreenContext) -> dict[str, Any]:
    table = table_state(ctx.query, filters={"q": None, "status": service.ACCOUNT_STATES})
    (found,) = await sections(service.accounts(ctx.backends, ctx.viewer.caller, table))
    return {"accounts": found, "table": table, "states": service.ACCOUNT_STATES}


async def account(ctx: ScreenContext) -> dict[str, Any]:
    account_id = str(ctx.params["account_id"])
    table = table_state(ctx.query)
    found = await service.account(ctx.backends, ctx.viewer.caller, account_id)
    (entries,) = await sections(service.ledger(ctx.backends, ctx.viewer.caller, account_id, table))
    # the tier's parts are the page's extras: a billing without them leaves the rest standing
    tiers = await optional(service.tiers_on_offer(ctx.backends, ctx.viewer.caller))
    tier_changes = await optional(service.tier_changes(ctx.backends, ctx.viewer.caller, account_id))
    return {
        "account": found,
        "entries": entries,
        "tiers": tiers,
        "tier_changes": tier_changes,
        "table": table,
        "title": found.get("email") or account_id,
        "adjust_key": uuid.uuid4().hex,
    }


async def payments(ctx: ScreenContext) -> dict[str, Any]:
    table = table_state(ctx.query, filters={"status": service.PAYMENT_STATES, "owner_id": None})
    if "owner_id" in table.filters and not _is_uuid(table.filters["owner_id"]):
        table.filters.pop("owner_id")
    (found,) = await sections(service.payments(ctx.backends, ctx.viewer.caller, table))
    return {
        "payments": found,
        "table": table,
        "states": service.PAYMENT_STATES,
        "refund_key": uuid.uuid4().hex,
    }


async def plans(ctx: ScreenContext) -> dict[str, Any]:
    (found,) = await sections(service.plans(ctx.backends, ctx.viewer.caller))
    return {"plans": found}


def _is_uuid(text: str) -> bool:
    try:
        uuid.UUID(text)
    except ValueError:
        return False
    return True


def _max_apps(form: FormData) -> int | None:
    """Apps per person on a plan: a whole number from 0 (billing bounds it above); None and
    an error on the form when it is not one."""
    text = form.get("max_apps_per_owner")
    if not text.isdigit() or len(text) > 6:
        form.errors["max_apps_per_owner"] = "Apps per person is a whole number, 0 or more."
        return None
    return int(text)


def _amount(form: FormData, name: str, currency: str) -> int | None:
    try:
        return to_minor(form.get(name), currency)
    except ValueError as exc:
        form.errors[name] = str(exc)
        return None


@router.post("/accounts/{account_id}/adjust")
async def adjust(request: Request, viewer: AdminViewer, account_id: uuid.UUID) -> Response:
    form = await read_form(request)
    backends = request.app.state.backends
    direction = form.get("direction")
    reason = form.get("reason")
    currency = form.get("currency") or "EUR"
    amount = _amount(form, "amount", currency)
    if direction not in service.DIRECTIONS or len(reason) < 3 or amount is None:
        outcome = flash.failure(
            form.errors.get("amount") or "Choose credit or debit and give a reason (3+ letters)."
        )
    else:
        body = {"direction": direction, "amount": amount, "currency": currency, "reason": reason}
        outcome = await flash.outcome_of(
            service.adjust(
                backends,
                viewer.caller,
                str(account_id),
                body,
                form.get("idempotency_key") or uuid.uuid4().hex,
            ),
            f"The account was {direction}ed.",
        )
    return await show(
        request, viewer, ADMIN, f"billing/accounts/{account_id}", full=False, flash=outcome
    )


@router.post("/accounts/{account_id}/tier")
async def set_tier(request: Request, viewer: AdminViewer, account_id: uuid.UUID) -> Response:
    form = await read_form(request)
    tier, reason = form.get("tier"), form.get("reason")
    if not TIER.match(tier) or len(reason) > 500:
        outcome = flash.failure("Choose one of the tiers on offer.")
    else:
        outcome = await flash.outcome_of(
            service.set_tier(
                request.app.state.backends, viewer.caller, str(account_id), tier, reason
            ),
            f"The account is on {tier} now (open tickets keep their SLA).",
        )
    return await show(
        request, viewer, ADMIN, f"billing/accounts/{account_id}", full=False, flash=outcome
    )


@router.post("/payments/{payment_id}/refund")
async def refund(request: Request, viewer: AdminViewer, payment_id: uuid.UUID) -> Response:
    form = await read_form(request)
    reason = form.get("reason")
    body: dict[str, Any] = {"reason": reason}
    amount = None
    if form.get("amount"):
        amount = _amount(form, "amount", form.get("currency") or "EUR")
        body["amount"] = amount
    if len(reason) < 3 or (form.get("amount") and amount is None):
        outcome = flash.failure(
            form.errors.get("amount") or "Give a reason for the refund (3+ letters)."
        )
    else:
        outcome = await flash.outcome_of(
            service.refund(
                request.app.state.backends,
                viewer.caller,
                str(payment_id),
                body,
                form.get("idempotency_key") or uuid.uuid4().hex,
            ),
            "The refund was issued.",
        )
    return await show(request, viewer, ADMIN, "billing/payments", full=False, flash=outcome)


@router.post("/plans")
async def create_plan(request: Request, viewer: AdminViewer) -> Response:
    form = await read_form(request)
    key, name = form.get("key"), form.get("name")
    currency = form.get("currency") or "EUR"
    amount = _amount(form, "amount_per_hour", currency)
    # left empty: billing's default for a new plan
    max_apps = _max_apps(form) if form.get("max_apps_per_owner") else None
    if not PLAN_KEY.match(key) or not name or amount is None or not form.ok:
        outcome = flash.failure(
            form.errors.get("amount_per_hour")
            or form.errors.get("max_apps_per_owner")
            or "A plan needs a key (lower case, digits, dashes), a name and an hourly price."
        )
    else:
        body = {
            "key": key,
            "name": name,
            "description": form.get("description"),
            "amount_per_hour": amount,
            "currency": currency,
        }
        if max_apps is not None:
            body["max_apps_per_owner"] = max_apps
        outcome = await flash.outcome_of(
            service.create_plan(request.app.state.backends, viewer.caller, body),
            f"Plan {key} created.",
        )
    return await show(request, viewer, ADMIN, "billing/plans", full=False, flash=outcome)


@router.post("/plans/{key}/price")
async def change_price(request: Request, viewer: AdminViewer, key: str) -> Response:
    form = await read_form(request)
    currency = form.get("currency") or "EUR"
    amount = _amount(form, "amount_per_hour", currency)
    if not PLAN_KEY.match(key) or amount is None:
        outcome = flash.failure(form.errors.get("amount_per_hour") or "Unknown plan.")
    else:
        body: dict[str, Any] = {"amount_per_hour": amount, "currency": currency}
        outcome = await flash.outcome_of(
            service.change_price(request.app.state.backends, viewer.caller, key, body),
            f"New price for {key} from the next full hour.",
        )
    return await show(request, viewer, ADMIN, "billing/plans", full=False, flash=outcome)


@router.post("/plans/{key}/max-apps")
async def set_max_apps(request: Request, viewer: AdminViewer, key: str) -> Response:
    form = await read_form(request)
    max_apps = _max_apps(form)
    if not PLAN_KEY.match(key) or max_apps is None:
        outcome = flash.failure(form.errors.get("max_apps_per_owner") or "Unknown plan.")
    else:
        outcome = await flash.outcome_of(
            service.set_plan_max_apps(request.app.state.backends, viewer.caller, key, max_apps),
            f"A person may now have {max_apps} apps on {key} (new apps; existing ones stay).",
        )
    return await show(request, viewer, ADMIN, "billing/plans", full=False, flash=outcome)


@router.post("/plans/{key}/active")
async def set_active(request: Request, viewer: AdminViewer, key: str) -> Response:
    form = await read_form(request)
    active = form.get("active") == "true"
    if not PLAN_KEY.match(key):
        outcome = flash.failure("Unknown plan.")
    else:
        outcome = await flash.outcome_of(
            service.set_plan_active(request.app.state.backends, viewer.caller, key, active),
            f"Plan {key} is {'on sale' if active else 'withdrawn from sale'}.",
        )
    return await show(request, viewer, ADMIN, "billing/plans", full=False, flash=outcome)
