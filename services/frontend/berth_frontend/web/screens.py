"""Screens: every panel and admin view is one loader + one partial template, served two ways.

`/partials/<path>` (and `/admin/partials/<path>`) answers the partial alone, for htmx to swap
into the content column; `/panel/<path>` (and `/admin/<path>`) answers the same partial inside
the full shell, so deep links, reloads and history restores render in full. Modules register
their screens here; one router (panel/api.py) serves them all.
"""

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from fastapi import Request
from starlette.routing import compile_path

from berth_frontend.web.backends import Backends
from berth_frontend.web.session import Viewer

AREAS = ("panel", "admin")


@dataclass(frozen=True)
class Area:
    name: str
    page_prefix: str
    partial_prefix: str


PANEL = Area("panel", "/panel", "/partials")
ADMIN = Area("admin", "/admin", "/admin/partials")
AREA_BY_NAME = {a.name: a for a in (PANEL, ADMIN)}


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
    area: str
    path: str
    template: str
    title: str
    menu: str
    load: Loader
    fragment: bool = False  # a part of a screen (lazy section): no heading, no title
    regex: re.Pattern[str] = field(default=re.compile(""), compare=False)


class ScreenRegistry:
    def __init__(self) -> None:
        self._screens: dict[str, list[Screen]] = {name: [] for name in AREAS}

    def screen(
        self,
        area: str,
        path: str,
        template: str,
        *,
        title: str,
        menu: str,
        fragment: bool = False,
    ) -> Callable[[Loader], Loader]:
        def register(load: Loader) -> Loader:
            regex, _, _ = compile_path("/" + path)
            self._screens[area].append(
                Screen(area, path, template, title, menu, load, fragment, regex)
            )
            return load

        return register

    def match(self, area: str, path: str) -> tuple[Screen, dict[str, Any]] | None:
        target = "/" + path.strip("/")
        for screen in self._screens[area]:
            found = screen.regex.match(target)
            if found:
                return screen, found.groupdict()
        return None

    def all(self, area: str) -> list[Screen]:
        return list(self._screens[area])


screens = ScreenRegistry()


@dataclass(frozen=True)
class MenuItem:
    key: str
    label: str
    path: str
    icon: str


PANEL_MENU = (
    MenuItem("dashboard", "Dashboard", "", "grid"),
    MenuItem("apps", "Apps", "apps", "box"),
    MenuItem("billing", "Billing", "billing", "card"),
    MenuItem("profile", "Profile", "profile", "user"),
)
ADMIN_MENU = (
    MenuItem("overview", "Overview", "", "grid"),
    MenuItem("users", "Users", "users", "users"),
    MenuItem("apps", "All apps", "apps", "box"),
    MenuItem("billing", "Billing", "billing", "card"),
    MenuItem("clients", "Machine clients", "clients", "key"),
)
MENUS = {"panel": PANEL_MENU, "admin": ADMIN_MENU}
