"""Screens: every panel and admin view is one loader + one partial template, served two ways.

`/partials/<path>` (and `/admin/partials/<path>`) answers the partial alone, for htmx to swap
into the content column; `/panel/<path>` (and `/admin/<path>`) answers the same partial inside
the full shell, so deep links, reloads and history restores render in full. The modules' loaders
are listed in berth_frontend/registry.py; panel/api.py serves them all.
"""

import re
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from fastapi import Request
from starlette.routing import compile_path

from berth_frontend.web.backends import Backends
from berth_frontend.web.session import Viewer


@dataclass(frozen=True)
class Area:
    name: str
    page_prefix: str
    partial_prefix: str


PANEL = Area("panel", "/panel", "/partials")
ADMIN = Area("admin", "/admin", "/admin/partials")
OPS = Area("ops", "/ops", "/ops/partials")  # on-call engineers (oncall or admin role)
SUPPORT = Area("support", "/support", "/support/partials")
AREAS = (PANEL, ADMIN, OPS, SUPPORT)


@dataclass
class ScreenContext:
    request: Request
    viewer: Viewer
    backends: Backends
    area: Area
    path: str  # the screen path as requested, e.g. "apps/42"
    params: dict[str, Any]

    @property
    def query(self) -> Any:
        return self.request.query_params

    def page_url(self, path: str | None = None, **query: Any) -> str:
        return _join(self.area.page_prefix, self.path if path is None else path, query)

    def partial_url(self, path: str | None = None, **query: Any) -> str:
        return _join(self.area.partial_prefix, self.path if path is None else path, query)


Loader = Callable[[ScreenContext], Awaitable[dict[str, Any]]]


def _join(prefix: str, path: str, query: dict[str, Any]) -> str:
    url = f"{prefix}/{path}" if path else prefix
    clean = {k: v for k, v in query.items() if v not in (None, "")}
    return f"{url}?{urlencode(clean)}" if clean else url


@dataclass(frozen=True)
class Screen:
    area: Area
    path: str
    template: str
    load: Loader
    title: str
    menu: str
    fragment: bool = False  # a part of a screen (lazy section): no heading, no title
    regex: re.Pattern[str] = field(init=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        regex, _, _ = compile_path("/" + self.path)
        object.__setattr__(self, "regex", regex)


class ScreenRegistry:
    """The screens the app serves (berth_frontend/registry.py lists them), found by path."""

    def __init__(self, screens: Iterable[Screen]) -> None:
        self._screens: dict[str, list[Screen]] = {area.name: [] for area in AREAS}
        for screen in screens:
            self._screens[screen.area.name].append(screen)

    def match(self, area: Area, path: str) -> tuple[Screen, dict[str, Any]] | None:
        target = "/" + path.strip("/")
        for screen in self._screens[area.name]:
            found = screen.regex.match(target)
            if found:
                return screen, found.groupdict()
        return None


@dataclass(frozen=True)
class MenuItem:
    key: str
    label: str
    path: str
    icon: str


PANEL_MENU = (
    MenuItem("dashboard", "Dashboard", "", "grid"),
    MenuItem("apps", "Apps", "apps", "box"),
    MenuItem("vps", "VPS", "vps", "server"),
    MenuItem("monitoring", "Monitoring", "monitoring", "pulse"),
    MenuItem("channels", "Alert channels", "monitoring/channels", "bell"),
    MenuItem("statuspages", "Status pages", "monitoring/status-pages", "globe"),
    MenuItem("billing", "Billing", "billing", "card"),
    MenuItem("support", "Support", "support", "help"),
    MenuItem("chat", "Chat", "chat", "chat"),
    MenuItem("profile", "Profile", "profile", "user"),
)
ADMIN_MENU = (
    MenuItem("overview", "Overview", "", "grid"),
    MenuItem("users", "Users", "users", "users"),
    MenuItem("apps", "All apps", "apps", "box"),
    MenuItem("vps", "All VPS", "vps", "server"),
    MenuItem("billing", "Billing", "billing", "card"),
    MenuItem("support", "Support desk", "support", "help"),
    MenuItem("clients", "Machine clients", "clients", "key"),
)
OPS_MENU = (MenuItem("queues", "Queues", "queues", "box"),)
SUPPORT_MENU = (
    MenuItem("queue", "Queue", "", "inbox"),
    MenuItem("chats", "Chats", "chats", "chat"),
)
MENUS = {"panel": PANEL_MENU, "admin": ADMIN_MENU, "ops": OPS_MENU, "support": SUPPORT_MENU}
