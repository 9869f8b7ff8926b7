"""Health checks of a starting instance: an HTTP answer (not 5xx) or a process that stays up."""

import json
from dataclasses import dataclass
from typing import Any

import httpx

from berth_deploy.enums import HealthCheckType


@dataclass(frozen=True)
class HealthCheck:
    type: str  # a HealthCheckType value
    path: str = "/"
    method: str = "GET"
    json_body: Any = None
    expect_json: bool = False
    timeout_seconds: float = 60.0
    stable_seconds: float = 3.0

    @classmethod
    def from_template(cls, health: dict[str, Any]) -> "HealthCheck":
        return cls(
            type=health.get("type", HealthCheckType.HTTP),
            path=health.get("path", "/"),
            method=health.get("method", "GET"),
            json_body=health.get("json"),
            expect_json=bool(health.get("expect_json", False)),
            timeout_seconds=float(health.get("timeout_seconds", 60)),
            stable_seconds=float(health.get("stable_seconds", 3)),
        )


async def probe_http(
    client: httpx.AsyncClient, port: int, check: HealthCheck, host: str = "127.0.0.1"
) -> str | None:
    """None when healthy, else why not (for the log); `host`: where the port is bound."""
    try:
        resp = await client.request(
            check.method,
            f"http://{host}:{port}{check.path}",
            json=check.json_body,
            timeout=httpx.Timeout(5.0, connect=1.0),
        )
    except httpx.HTTPError as exc:
        return f"{type(exc).__name__}"
    if resp.status_code >= 500:
        return f"HTTP {resp.status_code}"
    if check.expect_json:
        if resp.status_code >= 300:
            return f"HTTP {resp.status_code}"
        try:
            json.loads(resp.content)
        except ValueError:
            return "answer is not JSON"
    return None
