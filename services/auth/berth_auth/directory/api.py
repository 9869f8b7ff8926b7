"""The user directory for other services and teams: read one user by id.

Machine clients need the `auth:read` scope; people need the admin or support role.
"""

import uuid
from typing import Annotated

from fastapi import Depends

from berth_auth.dao import UserDAO
from berth_auth.directory.schemas import DirectoryUser
from berth_common.db import SessionDep
from berth_common.errors import Forbidden, NotFound, error_responses
from berth_common.routing import guarded_router
from berth_common.security import Principal, PrincipalKind, require_scope


async def _reader(
    principal: Annotated[Principal, Depends(require_scope("auth:read"))],
) -> Principal:
    if principal.kind == PrincipalKind.USER and not principal.has_role("admin", "support"):
        raise Forbidden("Requires role: admin or support")
    return principal


router = guarded_router(_reader, prefix="/api/auth/v1/users", tags=["directory"])


@router.get(
    "/{user_id}", response_model=DirectoryUser, responses=error_responses(NotFound, Forbidden)
)
async def get_user(user_id: uuid.UUID, session: SessionDep) -> DirectoryUser:
    user = await UserDAO(session).get(user_id)
    if user is None:
        raise NotFound("User not found")
    return DirectoryUser.model_validate(user)
