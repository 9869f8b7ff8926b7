"""User administration for staff: admins change, support reads."""

import uuid
from typing import Annotated

from fastapi import Depends, Query

from berth_auth.admin import service
from berth_auth.admin.schemas import (
    AuditNote,
    Role,
    User,
    UserBlock,
    UserDetail,
    UserFilters,
    UserPage,
    UserRolesUpdate,
)
from berth_auth.admin.service import SelfModification
from berth_auth.deps import SettingsDep
from berth_common.db import SessionDep
from berth_common.errors import NotFound, Unprocessable, error_responses
from berth_common.pagination import Page, PageDep
from berth_common.routing import role_router
from berth_common.security import AdminUser, CurrentPrincipal

router = role_router(*service.READ_ROLES, prefix="/api/auth/v1/admin/users", tags=["admin"])


def _filters(
    q: Annotated[
        str | None,
        Query(
            min_length=1,
            max_length=254,
            pattern=r"^[^\x00-\x1f\x7f]+$",
            description="email or name contains",
        ),
    ] = None,
    role: Role | None = None,
    blocked: bool | None = None,
    verified: bool | None = None,
) -> UserFilters:
    return UserFilters(q=q, role=role, blocked=blocked, verified=verified)


@router.get(
    "",
    response_model=UserPage,
    responses=error_responses(Unprocessable),
    description="Sort by `created_at` or `email` (`-` prefix: descending); default newest first.",
)
async def list_users(
    principal: CurrentPrincipal,
    session: SessionDep,
    params: PageDep,
    filters: Annotated[UserFilters, Depends(_filters)],
) -> UserPage:
    users, total = await service.list_users(session, principal, params, filters)
    return Page.build([User.from_user(u) for u in users], total, params)


@router.get("/{user_id}", response_model=UserDetail, responses=error_responses(NotFound))
async def get_user(
    user_id: uuid.UUID, principal: CurrentPrincipal, session: SessionDep
) -> UserDetail:
    user, active, notes = await service.get_user(session, principal, user_id)
    return UserDetail(
        **User.from_user(user).model_dump(),
        active_sessions=active,
        audit=[
            AuditNote(
                id=n.id,
                actor_id=n.actor_id,
                action=n.action,
                detail=n.detail,
                created_at=n.created_at,
            )
            for n in notes
        ],
    )


@router.post(
    "/{user_id}/block",
    response_model=User,
    responses=error_responses(NotFound, SelfModification),
)
async def block_user(
    user_id: uuid.UUID,
    body: UserBlock,
    admin: AdminUser,
    session: SessionDep,
    settings: SettingsDep,
) -> User:
    return User.from_user(
        await service.block_user(session, admin, user_id, body.reason, settings=settings)
    )


@router.post("/{user_id}/unblock", response_model=User, responses=error_responses(NotFound))
async def unblock_user(user_id: uuid.UUID, admin: AdminUser, session: SessionDep) -> User:
    return User.from_user(await service.unblock_user(session, admin, user_id))


@router.put(
    "/{user_id}/roles",
    response_model=User,
    responses=error_responses(NotFound, SelfModification),
)
async def set_roles(
    user_id: uuid.UUID,
    body: UserRolesUpdate,
    admin: AdminUser,
    session: SessionDep,
    settings: SettingsDep,
) -> User:
    return User.from_user(
        await service.set_roles(session, admin, user_id, body.roles, settings=settings)
    )
