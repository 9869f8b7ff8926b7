"""What tickets asks of the other services over HTTP.

- On the customer's behalf (their own access token): is the linked app, invoice or incident
  theirs (the owning service answers 404 for someone else's), and the context of a new
  ticket (the app and its current release, the last failed check, recent log lines, the
  account's balance and state). Each part of the context is best-effort: a service that is
  down or refuses leaves a note instead, and the ticket is opened anyway.
- With tickets' own machine client (auth:read): a person's address and name for
  notifications and canned replies.
"""

import asyncio
import uuid
from dataclasses import dataclass
from typing import Any

import httpx
from loguru import logger

from berth_common.errors import NotFound, ServiceUnavailable, TransientError
from berth_common.http import ServiceToken, make_http_client
from berth_tickets.config import TicketsSettings
from berth_tickets.enums import LinkKind


class LinkNotFound(NotFound):
    """The linked app, invoice or incident is not one of the customer's."""

    code = "link_not_found"


class LinkUnverifiable(ServiceUnavailable):
    """The service owning the linked thing could not say whose it is: try again."""

    code = "link_unverifiable"


@dataclass(frozen=True)
class Answer:
    status: int
    body: Any


class Down(Exception):
    """The service did not answer (connection, timeout, 5xx)."""


class Upstream:
    """One per process (the worker's event loop outlives tasks)."""

    def __init__(self, settings: TicketsSettings):
        self.settings = settings
        self._client: httpx.AsyncClient | None = None
        self._token: ServiceToken | None = None

    @property
    def client(self) -> httpx.AsyncClient:
        if self._client is None:
            self._client = make_http_client(
                timeout=httpx.Timeout(self.settings.context_timeout_seconds, connect=2.0)
            )
        return self._client

    async def close(self) -> None:
        if self._client is not None:
            await self._client.aclose()
        self._client = None
        self._token = None

    async def _get(self, url: str, token: str, **params: Any) -> Answer:
        try:
            resp = await self.client.get(
                url, params=params or None, headers={"Authorization": f"Bearer {token}"}
            )
        except httpx.HTTPError as exc:
            raise Down(type(exc).__name__) from exc
        if resp.status_code >= 500:
            raise Down(f"answered {resp.status_code}")
        try:
            body = resp.json()
        except ValueError:
            body = None
        return Answer(resp.status_code, body)

    # -- links ---------------------------------------------------------------------------

    def _link_url(self, kind: LinkKind, link_id: uuid.UUID) -> str:
        s = self.settings
        return {
            LinkKind.APP: f"{s.deploy_url.rstrip('/')}/api/deploy/v1/apps/{link_id}",
            LinkKind.INVOICE: f"{s.billing_url.rstrip('/')}/api/billing/v1/invoices/{link_id}",
            LinkKind.INCIDENT: (
                f"{s.monitoring_url.rstrip('/')}/api/monitoring/v1/incidents/{link_id}"
            ),
        }[kind]

    async def verify_link(
        self, kind: LinkKind, link_id: uuid.UUID, token: str, owner_id: uuid.UUID
    ) -> dict[str, Any]:
        """The linked thing as its service shows it to the customer; LinkNotFound when it is
        not theirs, LinkUnverifiable when the service cannot say."""
        try:
            answer = await self._get(self._link_url(kind, link_id), token)
        except Down as exc:
            logger.warning("cannot verify a ticket's {} link: {}", kind, exc)
            raise LinkUnverifiable(f"The {kind} service cannot be reached; try again") from exc
        if answer.status in (403, 404, 422):
            raise LinkNotFound(f"No {kind} {link_id} of yours")
        if answer.status != 200 or not isinstance(answer.body, dict):
            raise LinkUnverifiable(f"The {kind} service answered {answer.status}")
        # the owning service filtered by the token's subject; its owner field must agree
        owner = answer.body.get("owner_id")
        if owner is not None and str(owner) != str(owner_id):
            raise LinkNotFound(f"No {kind} {link_id} of yours")
        return answer.body

    # -- context -------------------------------------------------------------------------

    async def _part(self, name: str, url: str, token: str, **params: Any) -> dict[str, Any]:
        try:
            answer = await self._get(url, token, **params)
        except Down as exc:
            return {"ok": False, "note": f"{name} unavailable ({exc})"}
        if answer.status != 200:
            return {"ok": False, "note": f"{name} answered {answer.status}"}
        return {"ok": True, "data": answer.body}

    async def context(
        self, token: str, app: dict[str, Any] | None, link: dict[str, Any] | None
    ) -> dict[str, Any]:
        """What staff see about the customer at the ticket's creation."""
        s = self.settings
        context: dict[str, Any] = {}
        asked = [
            self._part("billing", f"{s.billing_url.rstrip('/')}/api/billing/v1/account", token)
        ]
        if app is not None:
            asked += [self._recent_logs(token, app), self._last_failed_check(token, app)]
        # each part waits at most its own timeout, all at once
        account, *app_parts = await asyncio.gather(*asked)
        if account["ok"]:
            data = account["data"] or {}
            account["data"] = {
                k: data.get(k)
                for k in ("balance", "balance_display", "currency", "state", "suspended_at")
            }
        context["account"] = account
        if link is not None:
            context["link"] = {"ok": True, "data": link}
        if app is not None:
            context["app"] = {"ok": True, "data": _app_summary(app)}
            context["logs"], context["checks"] = app_parts
        return context

    async def _recent_logs(self, token: str, app: dict[str, Any]) -> dict[str, Any]:
        s = self.settings
        url = f"{s.deploy_url.rstrip('/')}/api/deploy/v1/apps/{app['id']}/logs"
        head = await self._part("deploy logs", url, token, kind="run", limit_bytes=1024)
        if not head["ok"]:
            return head
        size = int((head["data"] or {}).get("size") or 0)
        tail = await self._part(
            "deploy logs", url, token, kind="run", offset=max(0, size - 16384), limit_bytes=16384
        )
        if not tail["ok"]:
            return tail
        lines = [line.get("text", "") for line in (tail["data"] or {}).get("lines", [])]
        return {"ok": True, "data": {"lines": lines[-self.settings.context_log_lines :]}}

    async def _last_failed_check(self, token: str, app: dict[str, Any]) -> dict[str, Any]:
        s = self.settings
        part = await self._part(
            "monitoring",
            f"{s.monitoring_url.rstrip('/')}/api/monitoring/v1/monitors",
            token,
            size=100,
        )
        if not part["ok"]:
            return part
        items = (part["data"] or {}).get("items", []) if isinstance(part["data"], dict) else []
        failed = [
            {
                k: m.get(k)
                for k in ("id", "name", "state", "last_checked_at", "last_error", "last_error_kind")
            }
            for m in items
            if str(m.get("app_id")) == str(app["id"]) and m.get("last_ok") is False
        ]
        return {"ok": True, "data": {"failing_monitors": failed}}

    # -- people --------------------------------------------------------------------------

    def _service_token(self) -> ServiceToken:
        if self._token is None:
            if not self.settings.client_id or not self.settings.client_secret:
                raise TransientError("TICKETS_CLIENT_ID/TICKETS_CLIENT_SECRET are not set")
            self._token = ServiceToken(
                f"{self.settings.auth_url.rstrip('/')}/oauth/token",
                self.settings.client_id,
                self.settings.client_secret.get_secret_value(),
                scope="auth:read",
            )
        return self._token

    async def person(self, user_id: uuid.UUID) -> dict[str, Any] | None:
        """{email, name, roles, is_blocked} of a person; None when auth does not know them."""
        token = self._service_token()
        url = f"{self.settings.auth_url.rstrip('/')}/api/auth/v1/users/{user_id}"
        try:
            headers = await token.headers(self.client)
            answer = await self._get(url, headers["Authorization"].removeprefix("Bearer "))
        except (Down, ServiceUnavailable) as exc:
            raise TransientError(f"auth directory unreachable: {exc}") from exc
        if answer.status == 404:
            return None
        if answer.status != 200 or not isinstance(answer.body, dict):
            raise TransientError(f"auth directory answered {answer.status}")
        return {
            "email": answer.body.get("email"),
            "name": answer.body.get("name"),
            "roles": list(answer.body.get("roles") or []),
            "is_blocked": bool(answer.body.get("is_blocked")),
        }

    async def is_staff(self, user_id: uuid.UUID) -> bool:
        """Whether the person may work tickets (role support or admin, not blocked): a ticket
        is only ever assigned, and its messages only ever sent, to such a person."""
        try:
            found = await self.person(user_id)
        except TransientError as exc:
            raise ServiceUnavailable("The user directory cannot be reached; try again") from exc
        if found is None or found["is_blocked"]:
            return False
        return bool({"support", "admin"} & set(found["roles"]))


def _app_summary(app: dict[str, Any]) -> dict[str, Any]:
    keys = ("id", "slug", "name", "status", "status_reason", "current_release", "status_changed_at")
    return {k: app.get(k) for k in keys}
