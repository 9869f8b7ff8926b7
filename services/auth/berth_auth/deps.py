"""Request-level dependencies shared by the routers: settings and where a request came from."""

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request

from berth_auth.config import AuthSettings
from berth_common.client_ip import client_ip

MAX_USER_AGENT = 512


@dataclass(frozen=True)
class ClientMeta:
    """Where a request came from, as recorded in login history."""

    ip: str | None
    user_agent: str | None


def app_settings(request: Request) -> AuthSettings:
    return request.app.state.settings


def client_meta(request: Request) -> ClientMeta:
    """Caller address (berth_common.client_ip) and user agent, stripped of unprintable characters
    (it is shown in login history and written to logs) and cut to MAX_USER_AGENT."""
    agent = request.headers.get("user-agent")
    if agent is not None:
        agent = "".join(ch for ch in agent if ch.isprintable())[:MAX_USER_AGENT] or None
    hops = request.app.state.settings.trusted_proxy_hops
    return ClientMeta(ip=client_ip(request, hops), user_agent=agent)


SettingsDep = Annotated[AuthSettings, Depends(app_settings)]
ClientDep = Annotated[ClientMeta, Depends(client_meta)]
