"""Request-level dependencies shared by the routers: settings and where a request came from."""

import ipaddress
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request

from berth_auth.config import AuthSettings

MAX_USER_AGENT = 512


@dataclass(frozen=True)
class ClientMeta:
    """Where a request came from, as recorded in login history."""

    ip: str | None
    user_agent: str | None


def app_settings(request: Request) -> AuthSettings:
    return request.app.state.settings


def _valid_ip(value: str | None) -> str | None:
    if not value:
        return None
    try:
        return str(ipaddress.ip_address(value.strip()))
    except ValueError:
        return None


def client_ip(request: Request) -> str | None:
    """The caller's address: the right-most X-Forwarded-For entry, else the peer's address."""
    # Traefik appends the peer it saw, so the right-most X-Forwarded-For entry is trustworthy
    forwarded = request.headers.get("x-forwarded-for")
    ip = _valid_ip(forwarded.rsplit(",", 1)[-1]) if forwarded else None
    if ip is None and request.client is not None:
        ip = _valid_ip(request.client.host)
    return ip


def client_meta(request: Request) -> ClientMeta:
    """Caller address (see client_ip) and user agent, stripped of unprintable characters
    (it is shown in login history and written to logs) and cut to MAX_USER_AGENT."""
    agent = request.headers.get("user-agent")
    if agent is not None:
        agent = "".join(ch for ch in agent if ch.isprintable())[:MAX_USER_AGENT] or None
    return ClientMeta(ip=client_ip(request), user_agent=agent)


SettingsDep = Annotated[AuthSettings, Depends(app_settings)]
ClientDep = Annotated[ClientMeta, Depends(client_meta)]
