"""Request-level dependencies of the account routers: settings and client address."""

import ipaddress
from typing import Annotated

from fastapi import Depends, Request
from fastapi.responses import JSONResponse

from berth_auth.accounts.service import ClientMeta
from berth_auth.config import AuthSettings
from berth_common.errors import BerthError, error_response

USER_AGENT_MAX = 512


def _settings(request: Request) -> AuthSettings:
    return request.app.state.settings


def _valid_ip(value: str | None) -> str | None:
    if not value:
        return None
    try:
        return str(ipaddress.ip_address(value.strip()))
    except ValueError:
        return None


def client_meta(request: Request) -> ClientMeta:
    # Traefik appends the peer it saw, so the right-most X-Forwarded-For entry is trustworthy
    forwarded = request.headers.get("x-forwarded-for", "")
    ip = _valid_ip(forwarded.rsplit(",", 1)[-1]) if forwarded else None
    if ip is None and request.client is not None:
        ip = _valid_ip(request.client.host)
    user_agent = request.headers.get("user-agent")
    return ClientMeta(ip=ip, user_agent=user_agent[:USER_AGENT_MAX] if user_agent else None)


def recorded_failure(exc: BerthError) -> JSONResponse:
    """Answer with the error while letting the session commit the recorded failure."""
    return error_response(exc.status_code, exc.code, exc.message, exc.details, exc.headers)


SettingsDep = Annotated[AuthSettings, Depends(_settings)]
ClientDep = Annotated[ClientMeta, Depends(client_meta)]
