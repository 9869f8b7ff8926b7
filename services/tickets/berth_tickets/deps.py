"""Named dependencies of the tickets API."""

from typing import Annotated

from fastapi import Depends, Request

from berth_tickets.config import TicketsSettings


def _settings(request: Request) -> TicketsSettings:
    return request.app.state.settings


SettingsDep = Annotated[TicketsSettings, Depends(_settings)]
