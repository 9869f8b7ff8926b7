"""What a visitor sees and does: the plans on sale, and the account flows over auth's public
account API."""

from typing import Any

from berth_frontend.billing import service as billing
from berth_frontend.web.backends import Backends, Caller
from berth_frontend.web.money import format_money

ACCOUNTS = "/api/auth/v1"
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


async def plans_on_sale(backends: Backends, caller: Caller) -> list[dict[str, Any]]:
    """The plans billing sells, each with its hourly and monthly price as text."""
    plans = await billing.plans(backends, caller)
    return [_priced(p) for p in plans if p.get("is_active", True)]


async def register(backends: Backends, caller: Caller, *, email: str, password: str, name: str):
    return await backends.auth.post(
        f"{ACCOUNTS}/register", caller, {"email": email, "password": password, "name": name}
    )


async def verify_email(backends: Backends, caller: Caller, *, email: str, code: str):
    return await backends.auth.post(
        f"{ACCOUNTS}/verify-email", caller, {"email": email, "code": code}
    )


async def resend_code(backends: Backends, caller: Caller, *, email: str) -> None:
    await backends.auth.post(
        f"{ACCOUNTS}/resend-code", caller, {"email": email, "purpose": "verify_email"}
    )


async def request_reset(backends: Backends, caller: Caller, *, email: str) -> None:
    await backends.auth.post(f"{ACCOUNTS}/password-reset/request", caller, {"email": email})


async def confirm_reset(
    backends: Backends, caller: Caller, *, email: str, code: str, new_password: str
) -> None:
    await backends.auth.post(
        f"{ACCOUNTS}/password-reset/confirm",
        caller,
        {"email": email, "code": code, "new_password": new_password},
    )
