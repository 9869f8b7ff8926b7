"""Named dependencies of the tickets API."""

from typing import Annotated

from fastapi import Depends, Request

from berth_common.errors import Unauthorized
from berth_common.security import token_from_request
from berth_tickets.config import TicketsSettings
from berth_tickets.upstream import Upstream


def _settings(request: Request) -> TicketsSettings:
    return request.app.state.settings


def _upstream(request: Request) -> Upstream:
    return request.app.state.upstream


def _token(request: Request) -> str:
    """The caller's own access token (already verified by the router's guard), to ask the
    other services on their behalf: they then show only what is the caller's."""
    token = token_from_request(request)
    if not token:
        raise Unauthorized("Sign in first")
    return token


SettingsDep = Annotated[TicketsSettings, Depends(_settings)]
UpstreamDep = Annotated[Upstream, Depends(_upstream)]
CallerToken = Annotated[str, Depends(_token)]
