"""How chat reaches a customer's agent app and asks deploy about it.

- The agent is reached over the platform's internal path only: an HTTP request to Traefik's
  `web` entry (CHAT_TRAEFIK_ENTRY_URL, an address of this platform) carrying the app's Host
  header `<slug>.<APPS_DOMAIN>`. No public name is ever resolved, whatever the app's slug.
- The agent contract: `POST /chat` {"message", "conversation_id"} → JSON {"reply"}. With
  `Accept: text/event-stream, application/json` an agent MAY stream: SSE `data:` chunks
  (each a JSON {"delta": str}, or plain text) ending with `event: done`, or
  `application/x-ndjson` lines {"delta": str} (a last {"done": true} is optional).
- Deploy is asked with chat's machine client (deploy:read) whether the app runs, and with
  the customer's own token whether an app is theirs (its 404 for anyone else's).
"""

import asyncio
import json
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import httpx

from berth_chat.config import ChatSettings
from berth_common.errors import ServiceUnavailable, TransientError, Unprocessable
from berth_common.http import ServiceToken, make_http_client

AGENT_TEMPLATE = "ai-agent"
STREAM_ACCEPT = "text/event-stream, application/json"
# answers that mean "not now": the request is retried with backoff
RETRY_STATUSES = frozenset({502, 503, 504})


class AgentUnreachable(TransientError):
    """The agent did not answer now (connection, timeout, 502/503/504): retry later."""


class AgentBroken(Exception):
    """The agent answered, but not by the contract (status, type, body): retrying won't help."""


class DeployUnreachable(TransientError):
    """Deploy could not say what state the app is in: retry later."""


@dataclass(frozen=True)
class AgentApp:
    id: uuid.UUID
    owner_id: uuid.UUID
    slug: str
    name: str
    template: str
    status: str
    status_reason: str | None
    suspended_by: str | None

    @classmethod
    def of(cls, body: dict[str, Any]) -> "AgentApp":
        return cls(
            id=uuid.UUID(str(body["id"])),
            owner_id=uuid.UUID(str(body["owner_id"])),
            slug=str(body["slug"]),
            name=str(body.get("name") or body["slug"]),
            template=str(body["template"]),
            status=str(body["status"]),
            status_reason=body.get("status_reason"),
            suspended_by=body.get("suspended_by"),
        )


Delta = Callable[[str], Awaitable[None]]


class Upstream:
    """One per process (the worker's event loop outlives tasks)."""

    def __init__(self, settings: ChatSettings):
        self.settings = settings
        self._client: httpx.AsyncClient | None = None
        self._token: ServiceToken | None = None

    @property
    def client(self) -> httpx.AsyncClient:
        if self._client is None:
            s = self.settings
            self._client = make_http_client(
                timeout=httpx.Timeout(
                    s.agent_read_timeout_seconds, connect=s.agent_connect_timeout_seconds
                ),
                follow_redirects=False,
                trust_env=False,
            )
        return self._client

    async def close(self) -> None:
        if self._client is not None:
            await self._client.aclose()
        self._client = None
        self._token = None

    # -- deploy ------------------------------------------------------------------------------

    def _service_token(self) -> ServiceToken:
        if self._token is None:
            if not self.settings.client_id or not self.settings.client_secret:
                raise TransientError("CHAT_CLIENT_ID/CHAT_CLIENT_SECRET are not set")
            self._token = ServiceToken(
                f"{self.settings.auth_url.rstrip('/')}/oauth/token",
                self.settings.client_id,
                self.settings.client_secret.get_secret_value(),
                scope="deploy:read tickets:write",
            )
        return self._token

    async def _service_headers(self) -> dict[str, str]:
        try:
            return await self._service_token().headers(self.client)
        except (httpx.HTTPError, ServiceUnavailable) as exc:
            raise DeployUnreachable(f"no service token: {exc}") from exc

    async def customers_app(self, app_id: uuid.UUID, token: str) -> AgentApp | None:
        """The app as deploy shows it to the customer (their token); None when not theirs."""
        url = f"{self.settings.deploy_url.rstrip('/')}/api/deploy/v1/apps/{app_id}"
        try:
            resp = await self.client.get(url, headers={"Authorization": f"Bearer {token}"})
        except httpx.HTTPError as exc:
            raise ServiceUnavailable("Deploy cannot be reached; try again") from exc
        if resp.status_code in (403, 404, 422):
            return None
        if resp.status_code != 200:
            raise ServiceUnavailable(f"Deploy answered {resp.status_code}; try again")
        return AgentApp.of(resp.json())

    async def app(self, app_id: uuid.UUID) -> AgentApp | None:
        """The app's current state, with chat's machine client; None when it is gone."""
        url = f"{self.settings.deploy_url.rstrip('/')}/api/deploy/v1/service/apps/{app_id}"
        headers = await self._service_headers()
        try:
            resp = await self.client.get(url, headers=headers)
        except httpx.HTTPError as exc:
            raise DeployUnreachable(f"deploy: {type(exc).__name__}") from exc
        if resp.status_code == 404:
            return None
        if resp.status_code != 200:
            raise DeployUnreachable(f"deploy answered {resp.status_code}")
        return AgentApp.of(resp.json())

    async def open_ticket(self, payload: dict[str, Any]) -> dict[str, Any]:
        url = f"{self.settings.tickets_url.rstrip('/')}/api/tickets/v1/service/tickets"
        headers = await self._service_headers()
        try:
            resp = await self.client.post(url, json=payload, headers=headers)
        except httpx.HTTPError as exc:
            raise ServiceUnavailable("The tickets service cannot be reached; try again") from exc
        if resp.status_code in (404, 409, 422):
            raise Unprocessable(
                f"The tickets service refused the ticket ({resp.status_code})",
                code="ticket_refused",
            )
        if resp.status_code != 201:
            raise ServiceUnavailable(f"The tickets service answered {resp.status_code}")
        return resp.json()

    # -- the agent ---------------------------------------------------------------------------

    async def ask_agent(
        self, app: AgentApp, message: str, conversation_id: str, on_delta: Delta
    ) -> str:
        """The agent's whole reply; each piece is passed to `on_delta` as it arrives."""
        s = self.settings
        url = f"{s.traefik_entry_url.rstrip('/')}/chat"
        headers = {"Host": f"{app.slug}.{s.apps_domain}", "Accept": STREAM_ACCEPT}
        body = {"message": message, "conversation_id": conversation_id}
        deadline = time.monotonic() + s.agent_total_timeout_seconds
        try:
            async with asyncio.timeout(s.agent_total_timeout_seconds):
                async with self.client.stream("POST", url, json=body, headers=headers) as resp:
                    if resp.status_code in RETRY_STATUSES:
                        raise AgentUnreachable(f"the agent answered {resp.status_code}")
                    if resp.status_code != 200:
                        raise AgentBroken(f"the agent answered {resp.status_code}")
                    kind = resp.headers.get("content-type", "").split(";")[0].strip().lower()
                    return await _read_reply(resp, kind, s.agent_reply_max_chars, on_delta)
        except TimeoutError as exc:
            waited = s.agent_total_timeout_seconds - max(0.0, deadline - time.monotonic())
            raise AgentUnreachable(f"the agent did not finish within {waited:.0f} s") from exc
        except httpx.TimeoutException as exc:
            raise AgentUnreachable(f"the agent timed out ({type(exc).__name__})") from exc
        except httpx.TransportError as exc:
            raise AgentUnreachable(f"the agent cannot be reached ({type(exc).__name__})") from exc


async def _read_reply(resp: httpx.Response, kind: str, limit: int, on_delta: Delta) -> str:
    if kind == "application/json":
        raw = await resp.aread()
        try:
            reply = json.loads(raw)["reply"]
        except (ValueError, KeyError, TypeError) as exc:
            raise AgentBroken('the agent\'s JSON has no "reply"') from exc
        if not isinstance(reply, str):
            raise AgentBroken('the agent\'s "reply" is not text')
        reply = reply[:limit]
        await on_delta(reply)
        return reply
    if kind == "text/event-stream":
        pieces = _sse_deltas(resp)
    elif kind == "application/x-ndjson":
        pieces = _ndjson_deltas(resp)
    else:
        raise AgentBroken(f"the agent answered {kind or 'no content type'}")
    parts: list[str] = []
    size = 0
    async for piece in pieces:
        piece = piece[: limit - size]
        if piece:
            parts.append(piece)
            size += len(piece)
            await on_delta(piece)
        if size >= limit:
            break
    return "".join(parts)


def _delta_of(data: str) -> str:
    try:
        value = json.loads(data)
    except ValueError:
        return data  # a plain-text chunk
    if isinstance(value, dict):
        delta = value.get("delta", "")
        if not isinstance(delta, str):
            raise AgentBroken('a "delta" that is not text')
        return delta
    if isinstance(value, str):
        return value
    raise AgentBroken('a chunk that is neither text nor {"delta": ...}')


async def _sse_deltas(resp: httpx.Response) -> AsyncIterator[str]:
    event, data = "message", []
    async for line in resp.aiter_lines():
        if line == "":
            if event == "done":
                return
            if data:
                yield _delta_of("\n".join(data))
            event, data = "message", []
        elif line.startswith(":"):
            continue
        else:
            field, _, value = line.partition(":")
            value = value.removeprefix(" ")
            if field == "event":
                event = value
            elif field == "data":
                data.append(value)
    if event == "done":
        return
    raise AgentUnreachable("the agent's stream ended without event: done")


async def _ndjson_deltas(resp: httpx.Response) -> AsyncIterator[str]:
    async for line in resp.aiter_lines():
        if not line.strip():
            continue
        try:
            value = json.loads(line)
        except ValueError as exc:
            raise AgentBroken("a line that is not JSON") from exc
        if not isinstance(value, dict):
            raise AgentBroken('a line that is not {"delta": ...}')
        if value.get("done"):
            return
        delta = value.get("delta", "")
        if not isinstance(delta, str):
            raise AgentBroken('a "delta" that is not text')
        yield delta
