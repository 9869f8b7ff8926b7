"""Requests and responses of status pages: the owner's settings and the public read."""

import unicodedata
import uuid
from datetime import date, datetime
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints

from berth_common.pagination import Page

# the public address is /status/<slug>: words that name the platform's own things are refused
RESERVED_SLUGS = frozenset(
    {
        "admin", "api", "app", "apps", "auth", "berth", "billing", "deploy", "docs", "frontend",
        "gateway", "help", "login", "logout", "monitoring", "new", "oauth", "ops", "panel",
        "partials", "root", "security", "settings", "signin", "signup", "static", "status",
        "support", "system", "tickets", "www",
    }
)  # fmt: skip


def _plain_text(value: str) -> str:
    if any(unicodedata.category(ch) == "Cc" and ch not in "\n" for ch in value):
        raise ValueError("must not contain control characters")
    return value


def _slug(value: str) -> str:
    if value.strip("-") != value or "--" in value:
        raise ValueError("a slug starts and ends with a letter or digit, without '--'")
    if value in RESERVED_SLUGS:
        raise ValueError(f"'{value}' is reserved")
    return value


Slug = Annotated[str, StringConstraints(pattern=r"^[a-z0-9-]{3,60}$"), AfterValidator(_slug)]
Title = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=120),
    AfterValidator(_plain_text),
]
Description = Annotated[
    str, StringConstraints(strip_whitespace=True, max_length=1000), AfterValidator(_plain_text)
]
DisplayName = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=120),
    AfterValidator(_plain_text),
]

MAX_MONITORS = 50


class PageMonitorIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    monitor_id: uuid.UUID
    # what the public sees (default: the monitor's own name)
    display_name: DisplayName | None = None


class StatusPageCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    slug: Slug
    title: Title
    description: Description = ""
    is_published: bool = True
    monitors: list[PageMonitorIn] = Field(default_factory=list, max_length=MAX_MONITORS)


class StatusPageUpdate(BaseModel):
    """`monitors` replaces the whole list (in the order given) when present."""

    model_config = ConfigDict(extra="forbid")

    slug: Slug | None = None
    title: Title | None = None
    description: Description | None = None
    is_published: bool | None = None
    monitors: list[PageMonitorIn] | None = Field(None, max_length=MAX_MONITORS)


class PageMonitor(BaseModel):
    monitor_id: uuid.UUID
    display_name: str
    position: int


class StatusPage(BaseModel):
    id: uuid.UUID
    slug: str
    title: str
    description: str
    is_published: bool
    path: str
    monitors: list[PageMonitor]
    created_at: datetime
    updated_at: datetime


StatusPagePage = Page[StatusPage]


# --- the public read: only what the page shows ------------------------------------------------

PublicState = Literal["up", "down", "degraded", "maintenance", "unknown"]


class PublicDay(BaseModel):
    day: date
    # share of successful checks that day; null when nothing was checked
    up: float | None


class PublicMonitor(BaseModel):
    name: str
    state: PublicState
    uptime: dict[str, float | None]
    days: list[PublicDay]


class PublicIncident(BaseModel):
    title: str
    opened_at: datetime


class PublicStatusPage(BaseModel):
    slug: str
    title: str
    description: str
    # the worst of the monitors' states
    overall: PublicState
    monitors: list[PublicMonitor]
    incidents: list[PublicIncident]
    generated_at: datetime
