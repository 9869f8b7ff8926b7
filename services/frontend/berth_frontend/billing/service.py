"""The signed-in person's billing, over billing's API: wallet, ledger, usage, top-ups,
invoices; and the chart data the billing screen draws."""

from datetime import date, timedelta
from enum import StrEnum
from typing import Any

from berth_common.money import display_exponent
from berth_frontend.web.backends import Backends, Caller
from berth_frontend.web.tables import Table

API = "/api/billing/v1"
ENTRY_KINDS = ("topup", "usage", "refund", "adjustment", "credit_note")
CHART_DAYS = 30


class PaymentStatus(StrEnum):
    """A top-up payment's status as billing reports it."""

    PENDING = "pending"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


async def account(backends: Backends, caller: Caller) -> dict[str, Any]:
    return await backends.billing.get(f"{API}/account", caller)


async def usage(backends: Backends, caller: Caller, days: int = CHART_DAYS) -> dict[str, Any]:
    return await backends.billing.get(f"{API}/account/usage", caller, days=days)


def _day(text: str | None) -> date | None:
    try:
        return date.fromisoformat(text) if text else None
    except ValueError:
        return None


def ledger_range(table: Table) -> dict[str, str]:
    """The table's from/to days (inclusive, UTC) as the API's [from, to) instants."""
    params: dict[str, str] = {}
    first, last = _day(table.extra.get("from")), _day(table.extra.get("to"))
    if first:
        params["from"] = f"{first.isoformat()}T00:00:00Z"
    if last:
        params["to"] = f"{(last + timedelta(days=1)).isoformat()}T00:00:00Z"
    return params


async def ledger(backends: Backends, caller: Caller, table: Table) -> dict[str, Any]:
    params = {**table.api_params(), **ledger_range(table)}
    params.pop("sort", None)  # the ledger is always newest first
    return await backends.billing.get(f"{API}/account/ledger", caller, **params)


async def usage_charges(backends: Backends, caller: Caller, table: Table) -> dict[str, Any]:
    """What each instance cost per hour (the detail behind the ledger's usage entries)."""
    params = {"page": table.page, "size": table.size, **ledger_range(table)}
    return await backends.billing.get(f"{API}/account/usage/charges", caller, **params)


async def payments(backends: Backends, caller: Caller, size: int = 5) -> dict[str, Any]:
    return await backends.billing.get(f"{API}/payments", caller, size=size)


async def invoices(backends: Backends, caller: Caller, table: Table) -> dict[str, Any]:
    return await backends.billing.get(f"{API}/invoices", caller, page=table.page, size=table.size)


async def topup(
    backends: Backends, caller: Caller, amount: int, currency: str, idempotency_key: str
) -> dict[str, Any]:
    return await backends.billing.post(
        f"{API}/topups", caller, {"amount": amount, "currency": currency}, idempotency_key
    )


async def invoice_pdf(backends: Backends, caller: Caller, invoice_id: str):
    return await backends.billing.download(f"{API}/invoices/{invoice_id}/pdf", caller)


async def plans(backends: Backends, caller: Caller) -> list[dict[str, Any]]:
    return await backends.billing.get(f"{API}/plans", caller)


def _major(minor: int, exp: int) -> float:
    return round(minor / 10**exp, exp)  # chart heights only; money stays integer elsewhere


def charts(series: dict[str, Any], balance: int) -> dict[str, dict[str, Any]]:
    """Chart.js configs: daily spend (bars) and the end-of-day balance (line), the latter
    walked back from today's balance through each day's movements."""
    exp = series.get("exponent", display_exponent(series.get("currency")))
    days = series["days"]
    labels = [str(d["day"])[5:] for d in days]
    spend = [_major(d["usage"] + d["other_debits"], exp) for d in days]
    closing: list[int] = []
    running = balance
    for d in reversed(days):
        closing.append(running)
        running -= d["credits"] - d["usage"] - d["other_debits"]
    closing.reverse()
    currency = series.get("currency", "")
    return {
        "spend": {
            "type": "bar",
            "data": {
                "labels": labels,
                "datasets": [
                    {"label": f"Spend ({currency})", "data": spend, "backgroundColor": "#6366f1"}
                ],
            },
            "options": {
                "plugins": {"legend": {"display": False}},
                "scales": {"y": {"beginAtZero": True}},
            },
        },
        "balance": {
            "type": "line",
            "data": {
                "labels": labels,
                "datasets": [
                    {
                        "label": f"Balance ({currency})",
                        "data": [_major(v, exp) for v in closing],
                        "borderColor": "#15803d",
                        "backgroundColor": "rgba(21, 128, 61, .12)",
                        "fill": True,
                        "tension": 0.25,
                        "pointRadius": 0,
                    }
                ],
            },
            "options": {"plugins": {"legend": {"display": False}}},
        },
    }
