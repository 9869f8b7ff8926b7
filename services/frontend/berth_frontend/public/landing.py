"""The landing page's data: the plans and prices billing sells."""

from typing import Any

from berth_frontend.web.backends import ApiError, Backends, Caller, Section, section
from berth_frontend.web.money import format_money

HOURS_PER_MONTH = 730


def _priced(plan: dict[str, Any]) -> dict[str, Any]:
    hourly = plan.get("amount_per_hour")
    currency = plan.get("currency")
    if hourly is None:
        return {**plan, "price_text": "Price to be announced", "month_text": ""}
    return {
        **plan,
        "price_text": f"{format_money(hourly, currency)} / hour",
        "month_text": f"about {format_money(hourly * HOURS_PER_MONTH, currency)} / month",
    }


async def landing_context(backends: Backends, caller: Caller) -> dict[str, Any]:
    """Plans on sale, priced. Billing may keep its price list for signed-in people only:
    then `plans_need_sign_in` says so instead of a price list."""
    try:
        plans = await section(backends.billing.get("/api/billing/v1/plans", caller))
    except ApiError as exc:  # 401: billing shows prices to signed-in people only
        plans = Section(error=exc)
    need_sign_in = plans.error is not None and plans.error.status in (401, 403)
    if plans.ok:
        plans.data = [_priced(p) for p in plans.data if p.get("is_active", True)]
    return {"plans": plans, "plans_need_sign_in": need_sign_in}
