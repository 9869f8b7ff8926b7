"""The liveness of every process that should be running, for monitoring (one batched poll).

Machine clients need the `deploy:read` scope; people need the admin role.
"""

import uuid
from typing import Annotated

from fastapi import Depends, Query

from berth_common.db import SessionDep
from berth_common.errors import Forbidden, Unprocessable, error_responses
from berth_common.routing import guarded_router
from berth_common.security import Principal, PrincipalKind, require_scope
from berth_deploy.deps import SettingsDep
from berth_deploy.instances import service
from berth_deploy.instances.schemas import LivenessPage

READ_SCOPE = "deploy:read"


async def _liveness_reader(
    principal: Annotated[Principal, Depends(require_scope(READ_SCOPE))],
) -> Principal:
    if principal.kind == PrincipalKind.USER and not principal.is_admin:
        raise Forbidden("Requires role: admin")
    return principal


router = guarded_router(_liveness_reader, prefix="/api/deploy/v1/liveness", tags=["liveness"])


@router.get(
    "",
    response_model=LivenessPage,
    responses=error_responses(Unprocessable),
    description=(
        "Every instance that should be running (running, or crashed and awaiting its "
        "restart), by instance id: `alive` is the node supervisor's word. Page with "
        "`after=<next_after>`."
    ),
)
async def get_liveness(
    session: SessionDep,
    settings: SettingsDep,
    after: Annotated[uuid.UUID | None, Query(description="the last instance id seen")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 1000,
) -> LivenessPage:
    return await service.liveness(
        session, after=after, limit=limit, stale_seconds=settings.liveness_stale_seconds
    )
