"""Jinja2 with autoescape always on, and the helpers every template uses."""

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.templating import Jinja2Templates
from jinja2 import Environment, FileSystemLoader, StrictUndefined
from starlette.responses import HTMLResponse

from berth_frontend.web.csrf import csrf_token
from berth_frontend.web.markdown import render_markdown
from berth_frontend.web.money import format_money
from berth_frontend.web.static import static_url

TEMPLATES_DIR = Path(__file__).resolve().parent.parent / "templates"


def parse_time(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, str) and value:
        try:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    return None


def format_time(value: Any) -> str:
    moment = parse_time(value)
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC") if moment else "—"


def format_ago(value: Any) -> str:
    moment = parse_time(value)
    if moment is None:
        return "—"
    seconds = int((datetime.now(UTC) - moment).total_seconds())
    if seconds < 0:
        return format_time(moment)
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            return f"{seconds // size} {unit} ago"
    return "just now"


def make_templates() -> Jinja2Templates:
    env = Environment(
        loader=FileSystemLoader(TEMPLATES_DIR),
        autoescape=True,  # every user-provided string is escaped, in every template
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.globals.update(static_url=static_url, csrf_token=csrf_token)
    env.filters.update(
        time=format_time, ago=format_ago, money=format_money, markdown=render_markdown
    )
    return Jinja2Templates(env=env)


def is_htmx(request: Request) -> bool:
    return request.headers.get("hx-request") == "true"


def render(
    request: Request,
    template: str,
    context: dict[str, Any] | None = None,
    *,
    status_code: int = 200,
    headers: dict[str, str] | None = None,
) -> HTMLResponse:
    templates: Jinja2Templates = request.app.state.templates
    viewer = getattr(request.state, "viewer", None)
    base = {"viewer": viewer, "htmx": is_htmx(request)}
    return templates.TemplateResponse(
        request, template, {**base, **(context or {})}, status_code=status_code, headers=headers
    )
