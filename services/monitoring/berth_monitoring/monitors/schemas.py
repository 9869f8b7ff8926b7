"""The monitor API's shapes: what a user may send (checked here by shape, by the service
against settings and the target policy) and what they read back."""

import re
import uuid
from datetime import datetime
from typing import Annotated, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictInt,
    computed_field,
    field_serializer,
    field_validator,
    model_validator,
)

from berth_common.pagination import Page
from berth_monitoring.enums import MonitorKind, MonitorState

Name = Annotated[str, Field(min_length=1, max_length=120)]
Threshold = Annotated[StrictInt, Field(ge=1, le=20)]
Interval = Annotated[StrictInt, Field(ge=1, le=86_400)]
Timeout = Annotated[float, Field(gt=0, le=60)]
ResendMinutes = Annotated[StrictInt, Field(ge=0, le=10_080)]
GraceSeconds = Annotated[StrictInt, Field(ge=0, le=86_400)]

# `$.a.b[0]["c d"]`: keys by dot or quoted bracket, list items by index
_PATH_STEP = re.compile(r"""\.([A-Za-z_][A-Za-z0-9_-]*)|\[(\d{1,6})\]|\["([^"\\]{1,200})"\]""")
HIDDEN = "(hidden)"
_HEADER_NAME = re.compile(r"^[A-Za-z0-9!#$%&'*+.^_`|~-]{1,64}$")
# headers the check itself owns: setting them would change where or how the request goes
_RESERVED_HEADERS = frozenset(
    {"host", "content-length", "transfer-encoding", "connection", "upgrade", "te", "trailer"}
)


def parse_json_path(path: str) -> list[str | int]:
    """`$.a.b[0]` → ["a", "b", 0]; ValueError naming where a path stops making sense."""
    text = path.strip()
    if not text.startswith("$"):
        raise ValueError("a JSON path starts with $")
    steps: list[str | int] = []
    at = 1
    while at < len(text):
        found = _PATH_STEP.match(text, at)
        if found is None:
            raise ValueError(
                f"the JSON path cannot be read at position {at}: {text[at : at + 20]!r}"
            )
        key, index, quoted = found.groups()
        steps.append(int(index) if index is not None else (key or quoted))
        at = found.end()
    if len(steps) > 32:
        raise ValueError("a JSON path has at most 32 steps")
    return steps


class HttpConditions(BaseModel):
    """What a successful HTTP check looks like (every given condition must hold)."""

    model_config = ConfigDict(extra="forbid")

    method: Literal["GET", "HEAD", "POST"] = "GET"
    expected_status: list[tuple[StrictInt, StrictInt]] = Field(
        default_factory=lambda: [(200, 399)], min_length=1, max_length=10
    )
    keyword: str | None = Field(None, min_length=1, max_length=500)
    keyword_absent: StrictBool = False
    json_path: str | None = Field(None, min_length=1, max_length=300)
    json_expected: str | None = Field(None, max_length=500)
    cert_expiry_days: StrictInt | None = Field(None, ge=1, le=365)
    headers: dict[str, str] = Field(default_factory=dict, max_length=10)

    @field_validator("expected_status")
    @classmethod
    def _ranges(cls, ranges: list[tuple[int, int]]) -> list[tuple[int, int]]:
        for low, high in ranges:
            if not (100 <= low <= high <= 599):
                raise ValueError(f"status range {low}-{high} must be within 100-599, low first")
        return ranges

    @field_validator("json_path")
    @classmethod
    def _path(cls, path: str | None) -> str | None:
        if path is not None:
            parse_json_path(path)
        return path

    @field_validator("headers")
    @classmethod
    def _headers(cls, headers: dict[str, str]) -> dict[str, str]:
        for name, value in headers.items():
            if not _HEADER_NAME.match(name) or name.lower() in _RESERVED_HEADERS:
                raise ValueError(f"header {name[:64]!r} cannot be set")
            if len(value) > 1000 or any(c in value for c in "\r\n\0"):
                raise ValueError(f"header {name!r} has an invalid value")
        return headers

    @model_validator(mode="after")
    def _consistent(self) -> "HttpConditions":
        if self.keyword_absent and self.keyword is None:
            raise ValueError("keyword_absent needs a keyword")
        if self.json_expected is not None and self.json_path is None:
            raise ValueError("json_expected needs a json_path")
        return self


class MonitorCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: Literal[MonitorKind.HTTP, MonitorKind.TCP, MonitorKind.HEARTBEAT]
    name: Name
    url: str | None = Field(None, min_length=1, max_length=2000, description="http: the URL")
    host: str | None = Field(None, min_length=1, max_length=253, description="tcp: the host")
    port: StrictInt | None = Field(None, ge=1, le=65535, description="tcp: the port")
    http: HttpConditions | None = None
    interval_seconds: Interval | None = None
    timeout_seconds: Timeout | None = None
    failure_threshold: Threshold | None = None
    success_threshold: Threshold | None = None
    resend_minutes: ResendMinutes = 0
    grace_seconds: GraceSeconds = 0

    @model_validator(mode="after")
    def _fields_of_kind(self) -> "MonitorCreate":
        needed = {
            MonitorKind.HTTP: {"url"},
            MonitorKind.TCP: {"host", "port"},
            MonitorKind.HEARTBEAT: set(),
        }[self.kind]
        allowed = needed | ({"http"} if self.kind == MonitorKind.HTTP else set())
        given = {f for f in ("url", "host", "port", "http") if getattr(self, f) is not None}
        missing, extra = needed - given, given - allowed
        if missing:
            raise ValueError(f"a {self.kind} monitor needs {', '.join(sorted(missing))}")
        if extra:
            raise ValueError(f"a {self.kind} monitor takes no {', '.join(sorted(extra))}")
        return self


class MonitorUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Name | None = None
    url: str | None = Field(None, min_length=1, max_length=2000)
    host: str | None = Field(None, min_length=1, max_length=253)
    port: StrictInt | None = Field(None, ge=1, le=65535)
    http: HttpConditions | None = None
    interval_seconds: Interval | None = None
    timeout_seconds: Timeout | None = None
    failure_threshold: Threshold | None = None
    success_threshold: Threshold | None = None
    resend_minutes: ResendMinutes | None = None
    grace_seconds: GraceSeconds | None = None


class ChannelLinks(BaseModel):
    model_config = ConfigDict(extra="forbid")

    channel_ids: list[uuid.UUID] = Field(..., max_length=20)


class Monitor(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    name: str
    kind: MonitorKind
    app_id: uuid.UUID | None
    url: str | None
    host: str | None
    port: int | None
    http: dict
    grace_seconds: int
    last_beat_at: datetime | None
    interval_seconds: int
    timeout_seconds: float
    failure_threshold: int
    success_threshold: int
    resend_minutes: int
    suppressed: str | None
    muted_until: datetime | None
    mute_reason: str | None
    state: MonitorState
    state_changed_at: datetime
    flapping: bool
    open_incident_id: uuid.UUID | None
    last_checked_at: datetime | None
    last_ok: bool | None
    last_latency_ms: int | None
    last_error_kind: str | None
    last_error: str | None
    cert_expires_at: datetime | None
    created_at: datetime

    @field_serializer("http")
    def _hide_header_values(self, http: dict) -> dict:
        """Header values may be credentials for the target: write-only, like secrets."""
        if not http.get("headers"):
            return http
        return {**http, "headers": dict.fromkeys(http["headers"], HIDDEN)}

    @computed_field  # type: ignore[prop-decorator]
    @property
    def managed(self) -> bool:
        """The platform's monitor of an app: its target follows the app."""
        return self.app_id is not None


class MonitorCreated(Monitor):
    push_url: str | None = Field(
        None, description="heartbeat only: shown once, keep it (only its hash is stored)"
    )


class PushUrl(BaseModel):
    push_url: str


class MonitorListItem(Monitor):
    uptime: dict[str, float | None] = Field(default_factory=dict)


class MonitorPage(Page[MonitorListItem]):
    counts: dict[str, int] = Field(
        default_factory=dict, description="all of the owner's monitors by state, and paused"
    )


class AdminMonitor(Monitor):
    owner_id: uuid.UUID


class AdminMonitorPage(Page[AdminMonitor]):
    pass


class LatencyPoint(BaseModel):
    at: datetime
    avg_ms: float | None
    max_ms: int | None
    up_ratio: float | None


class Failure(BaseModel):
    at: datetime
    error_kind: str | None
    status: int | None
    reason: str


class MonitorStats(BaseModel):
    uptime: dict[str, float | None]
    range: str
    latency: list[LatencyPoint]
    failures: list[Failure]


class HeartbeatAck(BaseModel):
    ok: bool = True
    received_at: datetime
