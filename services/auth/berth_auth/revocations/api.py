"""The current revocation list, for the gateway and the services to load at start.

Internal: Traefik routes no /internal path, so only the platform's own network reaches it (like
/metrics). It holds ids only (sessions, clients, users), no secret.
"""

from berth_auth.deps import SettingsDep
from berth_auth.revocations import service
from berth_common.db import SessionDep
from berth_common.revocation import REVOCATIONS_PATH, Revocations
from berth_common.routing import public_router

router = public_router(tags=["internal"])


@router.get(REVOCATIONS_PATH, response_model=Revocations, include_in_schema=False)
async def current_revocations(session: SessionDep, settings: SettingsDep) -> Revocations:
    return await service.current(session, settings)
