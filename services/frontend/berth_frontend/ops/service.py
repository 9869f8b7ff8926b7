"""On-call queue pages over monitoring's API: every queue, one queue's history and thresholds;
and the chart data the queue page draws."""

from datetime import datetime
from typing import Any
from urllib.parse import quote

from berth_frontend.web.backends import Backends, Caller

API = "/api/monitoring/v1/ops/queues"
WINDOWS = ("1h", "24h", "7d")


async def queues(backends: Backends, caller: Caller) -> dict[str, Any]:
    return await backends.monitoring.get(API, caller)


async def queue(backends: Backends, caller: Caller, name: str, window: str) -> dict[str, Any]:
    return await backends.monitoring.get(f"{API}/{quote(name, safe='')}", caller, window=window)


async def set_threshold(
    backends: Backends, caller: Caller, name: str, body: dict[str, Any]
) -> dict[str, Any]:
    return await backends.monitoring.put(f"{API}/{quote(name, safe='')}/threshold", caller, body)


def _label(at: str, window: str) -> str:
    moment = datetime.fromisoformat(at)
    return moment.strftime("%H:%M:%S" if window == "1h" else "%d %b %H:%M")


def _line(label: str, values: list[Any], color: str, **extra: Any) -> dict[str, Any]:
    return {
        "label": label,
        "data": values,
        "borderColor": color,
        "backgroundColor": color,
        "pointRadius": 0,
        "spanGaps": True,
        **extra,
    }


def _options(y_title: str) -> dict[str, Any]:
    return {
        "responsive": True,
        "maintainAspectRatio": False,
        "animation": False,
        "interaction": {"mode": "index", "intersect": False},
        "scales": {
            "y": {"beginAtZero": True, "title": {"display": True, "text": y_title}},
            "x": {"ticks": {"maxTicksLimit": 8}},
        },
    }


def _marker_slots(labels_at: list[datetime], markers: list[dict[str, Any]]) -> list[int]:
    """The chart point each deploy marker falls on (the last point not after it)."""
    slots = []
    for marker in markers:
        at = datetime.fromisoformat(marker["at"])
        index = max((i for i, t in enumerate(labels_at) if t <= at), default=0)
        slots.append(index)
    return slots


def charts(detail: dict[str, Any]) -> dict[str, Any] | None:
    """Depth, oldest age and rates over the window; deploys as bars on the depth chart."""
    series, window = detail["series"], detail["window"]
    if not series:
        return None
    labels = [_label(p["at"], window) for p in series]
    ats = [datetime.fromisoformat(p["at"]) for p in series]
    top = max([p["ready"] + p["unacked"] for p in series] + [1])
    deploys: list[int | None] = [None] * len(series)
    for index in _marker_slots(ats, detail["deploy_markers"]):
        deploys[index] = top
    depth = {
        "type": "line",
        "data": {
            "labels": labels,
            "datasets": [
                _line("Ready", [p["ready"] for p in series], "#2563eb"),
                _line("Unacked", [p["unacked"] for p in series], "#f59e0b"),
                _line("Consumers", [p["consumers"] for p in series], "#10b981", borderDash=[4, 4]),
                {
                    "type": "bar",
                    "label": "Deploy (a worker came online)",
                    "data": deploys,
                    "backgroundColor": "#a855f7",
                    "barThickness": 3,
                },
            ],
        },
        "options": _options("messages"),
    }
    age = {
        "type": "line",
        "data": {
            "labels": labels,
            "datasets": [
                _line(
                    "Oldest waiting message (s)",
                    [p["oldest_age_seconds"] for p in series],
                    "#dc2626",
                )
            ],
        },
        "options": _options("seconds"),
    }
    rates = {
        "type": "line",
        "data": {
            "labels": labels,
            "datasets": [
                _line("Publish /s", [p["publish_rate"] for p in series], "#2563eb"),
                _line("Deliver /s", [p["deliver_rate"] for p in series], "#10b981"),
                _line("Ack /s", [p["ack_rate"] for p in series], "#6b7280"),
            ],
        },
        "options": _options("messages per second"),
    }
    return {"depth": depth, "age": age, "rates": rates}
