"""Request-level dependencies shared by billing's routers."""

import uuid
from typing import Annotated

from fastapi import Depends, Request

from berth_billing.config import BillingSettings
from berth_common.errors import Forbidden
from berth_common.security import CurrentUser, Principal


def _settings(request: Request) -> BillingSettings:
    return request.app.state.settings


SettingsDep = Annotated[BillingSettings, Depends(_settings)]


def owner_id_of(principal: Principal) -> uuid.UUID:
    try:
        return uuid.UUID(principal.subject)
    except ValueError:
        raise Forbidden("This token's subject is not a Berth user") from None


def _owner(principal: CurrentUser) -> uuid.UUID:
    return owner_id_of(principal)


# the calling person's user id (token `sub`): their wallet is theirs alone
OwnerId = Annotated[uuid.UUID, Depends(_owner)]


def actor(principal: Principal) -> str:
    """Who caused a ledger movement, as recorded on the journal transaction."""
    prefix = "admin" if principal.is_admin else principal.kind
    return f"{prefix}:{principal.subject}"[:120]
