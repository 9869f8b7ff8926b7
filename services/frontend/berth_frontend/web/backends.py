"""The services the frontend renders, called over HTTP with the process's one shared client.

A call either returns the decoded JSON, raises ApiError (the service answered 4xx: show the
person what it said) or ServiceDown (no answer, a timeout or a 5xx: render that part of the
page as unavailable). Pages that need several services gather their calls in parallel.
"""

import asyncio
from collections.abc import Awaitable
from dataclasses import dataclass, field, replace
from typing import Any, Generic, TypeVar

import httpx
from loguru import logger

from berth_common.client_ip import forwarded_for_upstream

T = TypeVar("T")

SERVICE_LABELS = {
    "auth": "Accounts",
    "deploy": "Apps",
    "billing": "Billing",
    "monitoring": "Monitoring",
    "tickets": "Support",
    "chat": "Chat",
}


class ServiceDown(Exception):
    """The service could not answer: connection refused, timeout, or a 5xx."""

    def __init__(self, service: str, reason: str):
        super().__init__(f"{service} unavailable: {reason}")
        self.service = service
        self.reason = reason

    @property
    def label(self) -> str:
        return SERVICE_LABELS.get(self.service, self.service.title())


class ApiError(Exception):
    """The service refused the request (4xx) in the platform's error shape."""

    def __init__(
        self,
        service: str,
        status: int,
        code: str,
        message: str,
        details: Any = None,
        retry_after: int | None = None,
    ):
        super().__init__(f"{service} {status} {code}: {message}")
        self.service = service
        self.status = status
        self.code = code
        self.message = message
        self.details = details
        self.retry_after = retry_after

    def field_errors(self) -> dict[str, str]:
        """Validation details as {field: message}, for showing next to form inputs."""
        found: dict[str, str] = {}
        if isinstance(self.details, list):
            for item in self.details:
                if not isinstance(item, dict):
                    continue
                loc = [str(p) for p in item.get("loc", []) if p not in ("body", "query")]
                name = loc[0] if loc else "_"
                message = str(item.get("msg", "invalid value"))
                found.setdefault(name, message.removeprefix("Value error, "))
        return found


@dataclass(frozen=True)
class Caller:
    """On whose behalf calls are made: the browser's access token, address and agent."""

    token: str | None = None
    client_ip: str | None = None
    user_agent: str | None = None
    idempotency_key: str | None = None
    proxy_hops: int = 1  # TRUSTED_PROXY_HOPS, as every service reads it

    def headers(self) -> dict[str, str]:
        headers: dict[str, str] = {"Accept": "application/json"}
        if self.idempotency_key:
            headers["Idempotency-Key"] = self.idempotency_key
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        # the services read X-Forwarded-For as behind the platform's proxies: the browser, not us
        if self.client_ip:
            headers["X-Forwarded-For"] = forwarded_for_upstream(self.client_ip, self.proxy_hops)
        if self.user_agent:
            headers["User-Agent"] = self.user_agent
        return headers


def _error_from(service: str, response: httpx.Response) -> ApiError:
    code, message, details = "error", f"{service} answered {response.status_code}", None
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict):
        err = body.get("error")
        if isinstance(err, dict):  # the platform's shape
            code = str(err.get("code") or code)
            message = str(err.get("message") or message)
            details = err.get("details")
        elif isinstance(err, str):  # RFC 6749 §5.2, from the OAuth endpoints
            code = err
            message = str(body.get("error_description") or err)
    retry_after = response.headers.get("retry-after")
    return ApiError(
        service,
        response.status_code,
        code,
        message,
        details,
        int(retry_after) if retry_after and retry_after.isdigit() else None,
    )


class Backend:
    def __init__(self, name: str, base_url: str, http: httpx.AsyncClient):
        self.name = name
        self.base_url = base_url.rstrip("/")
        self.http = http

    async def request(
        self,
        method: str,
        path: str,
        caller: Caller,
        *,
        params: dict[str, Any] | None = None,
        json: Any = None,
        data: dict[str, str] | None = None,
    ) -> Any:
        clean = {k: v for k, v in (params or {}).items() if v not in (None, "")}
        try:
            response = await self.http.request(
                method,
                f"{self.base_url}{path}",
                params=clean or None,
                json=json,
                data=data,
                headers=caller.headers(),
            )
        except httpx.HTTPError as exc:
            logger.warning("{} {} {}: {}", self.name, method, path, type(exc).__name__)
            raise ServiceDown(self.name, type(exc).__name__) from exc
        if response.status_code >= 500:
            logger.warning("{} {} {} answered {}", self.name, method, path, response.status_code)
            raise ServiceDown(self.name, f"status {response.status_code}")
        if response.status_code >= 400:
            raise _error_from(self.name, response)
        if response.status_code == 204 or not response.content:
            return None
        try:
            return response.json()
        except ValueError as exc:
            raise ServiceDown(self.name, "not JSON") from exc

    async def download(self, path: str, caller: Caller) -> httpx.Response:
        """A non-JSON resource (a PDF), answered whole; errors as for `request`."""
        try:
            response = await self.http.get(f"{self.base_url}{path}", headers=caller.headers())
        except httpx.HTTPError as exc:
            raise ServiceDown(self.name, type(exc).__name__) from exc
        if response.status_code >= 500:
            raise ServiceDown(self.name, f"status {response.status_code}")
        if response.status_code >= 400:
            raise _error_from(self.name, response)
        return response

    async def upload(self, path: str, caller: Caller, filename: str, content: bytes) -> Any:
        """POST one file as multipart/form-data (field `file`); answers as `request`."""
        try:
            response = await self.http.post(
                f"{self.base_url}{path}",
                files={"file": (filename, content, "application/octet-stream")},
                headers=caller.headers(),
            )
        except httpx.HTTPError as exc:
            logger.warning("{} upload {}: {}", self.name, path, type(exc).__name__)
            raise ServiceDown(self.name, type(exc).__name__) from exc
        if response.status_code >= 500:
            raise ServiceDown(self.name, f"status {response.status_code}")
        if response.status_code >= 400:
            raise _error_from(self.name, response)
        try:
            return response.json()
        except ValueError as exc:
            raise ServiceDown(self.name, "not JSON") from exc

    async def get(self, path: str, caller: Caller, **params: Any) -> Any:
        return await self.request("GET", path, caller, params=params)

    async def post(
        self, path: str, caller: Caller, json: Any = None, idempotency_key: str | None = None
    ) -> Any:
        if idempotency_key:
            caller = replace(caller, idempotency_key=idempotency_key)
        return await self.request("POST", path, caller, json=json)

    async def put(self, path: str, caller: Caller, json: Any = None) -> Any:
        return await self.request("PUT", path, caller, json=json)

    async def patch(self, path: str, caller: Caller, json: Any = None) -> Any:
        return await self.request("PATCH", path, caller, json=json)

    async def delete(self, path: str, caller: Caller) -> Any:
        return await self.request("DELETE", path, caller)


class Backends:
    def __init__(
        self,
        http: httpx.AsyncClient,
        *,
        auth: str,
        deploy: str,
        billing: str,
        monitoring: str = "http://127.0.0.1:8104",
        tickets: str = "http://127.0.0.1:8105",
        chat: str = "http://127.0.0.1:8106",
    ):
        self.http = http
        self.auth = Backend("auth", auth, http)
        self.deploy = Backend("deploy", deploy, http)
        self.billing = Backend("billing", billing, http)
        self.monitoring = Backend("monitoring", monitoring, http)
        self.tickets = Backend("tickets", tickets, http)
        self.chat = Backend("chat", chat, http)


@dataclass
class Section(Generic[T]):
    """One part of a page: its data, or why it is missing (service down, or refused)."""

    data: T | None = None
    down: ServiceDown | None = None
    error: ApiError | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.down is None and self.error is None


async def section(call: Awaitable[T]) -> Section[T]:
    try:
        return Section(data=await call)
    except ServiceDown as exc:
        return Section(down=exc)
    except ApiError as exc:
        # the session is gone, or what the URL names is not there (or not the viewer's):
        # the whole page answers that, not one card
        if exc.status in (401, 404):
            raise
        return Section(error=exc)


async def sections(*calls: Awaitable[Any]) -> list[Section[Any]]:
    """Run the calls concurrently; each becomes a Section (a failure stays in its part)."""
    return list(await asyncio.gather(*(section(c) for c in calls)))
