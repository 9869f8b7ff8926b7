"""Request-level dependencies shared by billing's routers."""

from typing import Annotated

from fastapi import Depends, Request

from berth_billing.config import BillingSettings
from berth_common.security import Principal


def _settings(request: Request) -> BillingSettings:
    return request.app.state.settings


SettingsDep = Annotated[BillingSettings, Depends(_settings)]


def actor(principal: Principal) -> str:
    """Who caused a ledger movement, as recorded on the journal transaction."""
    prefix = "admin" if principal.is_admin else principal.kind
    return f"{prefix}:{principal.subject}"[:120]
