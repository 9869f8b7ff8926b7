"""The signed-in person's monitors, incidents and maintenance windows over monitoring's API;
the monitor form read into the API's shape, and the response-time chart's data."""

from datetime import UTC, datetime, timedelta
from typing import Any

from berth_frontend.web.backends import Backends, Caller
from berth_frontend.web.forms import FormData
from berth_frontend.web.tables import Table

API = "/api/monitoring/v1"
KINDS = ("http", "tcp", "heartbeat")
STATES = ("up", "pending", "down", "recovering", "unknown", "paused")
RANGES = ("1h", "24h", "7d", "30d")
WINDOW_FILTERS = ("active", "upcoming", "past")


async def monitors(backends: Backends, caller: Caller, table: Table) -> dict[str, Any]:
    return await backends.monitoring.get(f"{API}/monitors", caller, **table.api_params())


async def monitor(backends: Backends, caller: Caller, monitor_id: str) -> dict[str, Any]:
    return await backends.monitoring.get(f"{API}/monitors/{monitor_id}", caller)


async def stats(backends: Backends, caller: Caller, monitor_id: str, range_: str) -> dict[str, Any]:
    return await backends.monitoring.get(f"{API}/monitors/{monitor_id}/stats", caller, range=range_)


async def incidents(
    backends: Backends, caller: Caller, table: Table, monitor_id: str | None = None
) -> dict[str, Any]:
    return await backends.monitoring.get(
        f"{API}/incidents", caller, monitor_id=monitor_id, **table.api_params()
    )


async def incident(backends: Backends, caller: Caller, incident_id: str) -> dict[str, Any]:
    return await backends.monitoring.get(f"{API}/incidents/{incident_id}", caller)


async def windows(backends: Backends, caller: Caller, table: Table) -> dict[str, Any]:
    return await backends.monitoring.get(f"{API}/maintenance-windows", caller, **table.api_params())


async def create(backends: Backends, caller: Caller, body: dict[str, Any]) -> dict[str, Any]:
    return await backends.monitoring.post(f"{API}/monitors", caller, body)


async def act(backends: Backends, caller: Caller, monitor_id: str, action: str) -> Any:
    if action == "delete":
        return await backends.monitoring.delete(f"{API}/monitors/{monitor_id}", caller)
    return await backends.monitoring.post(f"{API}/monitors/{monitor_id}/{action}", caller)


async def update(
    backends: Backends, caller: Caller, monitor_id: str, changes: dict[str, Any]
) -> dict[str, Any]:
    return await backends.monitoring.patch(f"{API}/monitors/{monitor_id}", caller, changes)


async def channel_links(backends: Backends, caller: Caller, monitor_id: str) -> dict[str, Any]:
    return await backends.monitoring.get(f"{API}/monitors/{monitor_id}/channels", caller)


async def channels(backends: Backends, caller: Caller) -> dict[str, Any]:
    """The person's alert channels (the alerts module's API), for linking to a monitor."""
    return await backends.monitoring.get(f"{API}/channels", caller, size=100)


async def link_channels(
    backends: Backends, caller: Caller, monitor_id: str, channel_ids: list[str]
) -> dict[str, Any]:
    return await backends.monitoring.put(
        f"{API}/monitors/{monitor_id}/channels", caller, {"channel_ids": channel_ids}
    )


async def create_window(backends: Backends, caller: Caller, body: dict[str, Any]) -> Any:
    return await backends.monitoring.post(f"{API}/maintenance-windows", caller, body)


async def delete_window(backends: Backends, caller: Caller, window_id: str) -> Any:
    return await backends.monitoring.delete(f"{API}/maintenance-windows/{window_id}", caller)


def _int(form: FormData, name: str, low: int, high: int) -> int | None:
    text = form.get(name)
    if not text:
        return None
    try:
        value = int(text)
    except ValueError:
        form.errors[name] = "Enter a whole number."
        return None
    if not low <= value <= high:
        form.errors[name] = f"Between {low} and {high}."
    return value


def _status_ranges(form: FormData) -> list[list[int]] | None:
    text = form.get("expected_status")
    if not text:
        return None
    ranges: list[list[int]] = []
    for part in text.replace(" ", "").split(","):
        low, _, high = part.partition("-")
        try:
            ranges.append([int(low), int(high or low)])
        except ValueError:
            form.errors["expected_status"] = "Status codes or ranges, e.g. 200-299, 301"
            return None
    return ranges


def monitor_body(form: FormData) -> dict[str, Any]:
    """The API's MonitorCreate from the form; errors the form can tell go on `form.errors`
    (the rest is the API's to refuse, and comes back next to the field)."""
    kind = form.require("kind")
    if kind and kind not in KINDS:
        form.errors["kind"] = "Choose HTTP, TCP or heartbeat."
    body: dict[str, Any] = {"kind": kind, "name": form.require("name")}
    for name, low, high in (
        ("interval_seconds", 1, 86_400),
        ("failure_threshold", 1, 20),
        ("success_threshold", 1, 20),
    ):
        value = _int(form, name, low, high)
        if value is not None:
            body[name] = value
    if form.get("timeout_seconds"):
        try:
            body["timeout_seconds"] = float(form.get("timeout_seconds"))
        except ValueError:
            form.errors["timeout_seconds"] = "Enter a number of seconds."
    if kind == "http":
        body["url"] = form.require("url")
        http: dict[str, Any] = {}
        ranges = _status_ranges(form)
        if ranges:
            http["expected_status"] = ranges
        for name in ("keyword", "json_path", "json_expected"):
            if form.get(name):
                http[name] = form.get(name)
        if form.get("keyword_absent") == "on" and form.get("keyword"):
            http["keyword_absent"] = True
        cert = _int(form, "cert_expiry_days", 1, 365)
        if cert is not None:
            http["cert_expiry_days"] = cert
        if http:
            body["http"] = http
    elif kind == "tcp":
        body["host"] = form.require("host")
        port = _int(form, "port", 1, 65535)
        if port is None:
            form.errors.setdefault("port", "This field is required.")
        body["port"] = port
    elif kind == "heartbeat":
        grace = _int(form, "grace_seconds", 0, 86_400)
        if grace is not None:
            body["grace_seconds"] = grace
    return body


def settings_body(form: FormData) -> dict[str, Any]:
    """The settings form as a PATCH: only the fields given (the platform's monitors of apps
    offer name, thresholds and reminders; the API refuses the rest for them)."""
    changes: dict[str, Any] = {}
    if form.get("name"):
        changes["name"] = form.get("name")
    for name, low, high in (
        ("interval_seconds", 1, 86_400),
        ("failure_threshold", 1, 20),
        ("success_threshold", 1, 20),
        ("resend_minutes", 0, 10_080),
    ):
        value = _int(form, name, low, high)
        if value is not None:
            changes[name] = value
    return changes


def _moment(text: str) -> str | None:
    """A datetime-local value (UTC, as the form says) as an ISO instant."""
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).isoformat()


def window_body(form: FormData) -> dict[str, Any]:
    body: dict[str, Any] = {"name": form.require("name")}
    for name in ("starts_at", "ends_at"):
        raw = form.require(name)
        body[name] = _moment(raw) if raw else None
        if raw and body[name] is None:
            form.errors[name] = "Enter a date and time."
    chosen = [m for m in form.getlist("monitor_ids") if m]
    body["monitor_ids"] = chosen or None
    return body


def latency_chart(points: list[dict[str, Any]], range_: str) -> dict[str, Any]:
    """Chart.js config: average response time per bucket (line) and its maximum."""
    fmt = "%H:%M" if range_ in ("1h", "24h") else "%m-%d %H:%M" if range_ == "7d" else "%m-%d"
    labels = []
    for p in points:
        try:
            labels.append(datetime.fromisoformat(str(p["at"])).astimezone(UTC).strftime(fmt))
        except ValueError:
            labels.append(str(p["at"]))
    return {
        "type": "line",
        "data": {
            "labels": labels,
            "datasets": [
                {
                    "label": "Average (ms)",
                    "data": [
                        round(p["avg_ms"], 1) if p["avg_ms"] is not None else None for p in points
                    ],
                    "borderColor": "#6366f1",
                    "backgroundColor": "rgba(99, 102, 241, .12)",
                    "fill": True,
                    "tension": 0.25,
                    "pointRadius": 0,
                    "spanGaps": False,
                },
                {
                    "label": "Slowest (ms)",
                    "data": [p["max_ms"] for p in points],
                    "borderColor": "#f59e0b",
                    "pointRadius": 0,
                    "borderDash": [4, 4],
                },
            ],
        },
        "options": {"scales": {"y": {"beginAtZero": True}}},
    }


def percent(value: float | None) -> str:
    return "—" if value is None else f"{value * 100:.2f} %"


def default_window() -> dict[str, str]:
    start = (datetime.now(UTC) + timedelta(hours=1)).replace(minute=0, second=0, microsecond=0)
    fmt = "%Y-%m-%dT%H:%M"
    return {"starts_at": start.strftime(fmt), "ends_at": (start + timedelta(hours=1)).strftime(fmt)}
