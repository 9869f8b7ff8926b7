"""Billing administration over billing's admin API: accounts, adjustments, payments and
refunds, plans and prices."""

from enum import StrEnum
from typing import Any

from berth_frontend.billing.service import PaymentStatus
from berth_frontend.web.backends import Backends, Caller
from berth_frontend.web.tables import Table

ADMIN = "/api/billing/v1/admin"


class AccountState(StrEnum):
    """The states of an account an admin looks for (billing's admin filter)."""

    NEGATIVE = "negative"
    SUSPENDED = "suspended"


class Direction(StrEnum):
    """Which way an admin's adjustment moves the balance."""

    CREDIT = "credit"
    DEBIT = "debit"


ACCOUNT_STATES = tuple(AccountState)
PAYMENT_STATES = tuple(PaymentStatus)
DIRECTIONS = tuple(Direction)


async def accounts(backends: Backends, caller: Caller, table: Table) -> dict[str, Any]:
    params = table.api_params()
    params.pop("sort", None)
    return await backends.billing.get(f"{ADMIN}/accounts", caller, **params)


async def count_accounts(backends: Backends, caller: Caller, status: AccountState) -> int:
    page = await backends.billing.get(f"{ADMIN}/accounts", caller, size=1, status=status)
    return int(page["total"])


async def account(backends: Backends, caller: Caller, account_id: str) -> dict[str, Any]:
    return await backends.billing.get(f"{ADMIN}/accounts/{account_id}", caller)


async def ledger(
    backends: Backends, caller: Caller, account_id: str, table: Table
) -> dict[str, Any]:
    return await backends.billing.get(
        f"{ADMIN}/accounts/{account_id}/ledger", caller, page=table.page, size=table.size
    )


async def adjust(
    backends: Backends, caller: Caller, account_id: str, body: dict[str, Any], key: str
) -> dict[str, Any]:
    return await backends.billing.post(
        f"{ADMIN}/accounts/{account_id}/adjustments", caller, body, idempotency_key=key
    )


async def tiers_on_offer(backends: Backends, caller: Caller) -> dict[str, Any]:
    return await backends.billing.get(f"{ADMIN}/account-tiers", caller)


async def tier_changes(backends: Backends, caller: Caller, account_id: str) -> dict[str, Any]:
    return await backends.billing.get(
        f"{ADMIN}/accounts/{account_id}/tier-changes", caller, size=10
    )


async def set_tier(
    backends: Backends, caller: Caller, account_id: str, tier: str, reason: str
) -> dict[str, Any]:
    return await backends.billing.put(
        f"{ADMIN}/accounts/{account_id}/tier", caller, {"tier": tier, "reason": reason}
    )


async def payments(backends: Backends, caller: Caller, table: Table) -> dict[str, Any]:
    params = table.api_params()
    params.pop("sort", None)
    return await backends.billing.get(f"{ADMIN}/payments", caller, **params)


async def refund(
    backends: Backends, caller: Caller, payment_id: str, body: dict[str, Any], key: str
) -> dict[str, Any]:
    return await backends.billing.post(
        f"{ADMIN}/payments/{payment_id}/refunds", caller, body, idempotency_key=key
    )


async def plans(backends: Backends, caller: Caller) -> list[dict[str, Any]]:
    return await backends.billing.get(f"{ADMIN}/plans", caller)


async def create_plan(backends: Backends, caller: Caller, body: dict[str, Any]):
    return await backends.billing.post(f"{ADMIN}/plans", caller, body)


async def set_plan_active(backends: Backends, caller: Caller, key: str, active: bool):
    return await backends.billing.patch(f"{ADMIN}/plans/{key}", caller, {"is_active": active})


async def set_plan_max_apps(backends: Backends, caller: Caller, key: str, max_apps: int):
    return await backends.billing.patch(
        f"{ADMIN}/plans/{key}", caller, {"max_apps_per_owner": max_apps}
    )


async def change_price(backends: Backends, caller: Caller, key: str, body: dict[str, Any]):
    return await backends.billing.post(f"{ADMIN}/plans/{key}/prices", caller, body)
