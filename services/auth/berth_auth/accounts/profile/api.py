"""The signed-in user's own account (/me): people only, authenticated at router level."""

import uuid

from fastapi import Response, status

from berth_auth.accounts.deps import recorded_failure
from berth_auth.accounts.profile import service
from berth_auth.accounts.profile.schemas import (
    LoginHistoryEntry,
    LoginHistoryPage,
    LoginSession,
    LoginSessionPage,
    PasswordUpdate,
    ProfileUpdate,
)
from berth_auth.accounts.schemas import Me
from berth_auth.accounts.service import RejectedAttempt
from berth_auth.deps import ClientDep, SettingsDep
from berth_common.db import ReadsDep, SessionDep
from berth_common.errors import (
    NotFound,
    RateLimited,
    error_responses,
)
from berth_common.pagination import Page, PageDep
from berth_common.routing import user_router
from berth_common.security import CurrentUser

router = user_router(prefix="/me", tags=["profile"])


@router.get("", response_model=Me)
async def get_me(principal: CurrentUser, reads: ReadsDep) -> Me:
    return Me.from_user(await service.profile(reads, principal))


@router.patch("", response_model=Me)
async def update_me(body: ProfileUpdate, principal: CurrentUser, session: SessionDep) -> Me:
    user = await service.update_profile(session, principal, body.model_dump(exclude_unset=True))
    return Me.from_user(user)


@router.post(
    "/password",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=error_responses(RejectedAttempt, RateLimited),
)
async def change_password(
    body: PasswordUpdate,
    principal: CurrentUser,
    session: SessionDep,
    settings: SettingsDep,
    client: ClientDep,
):
    try:
        await service.change_password(
            session,
            settings,
            principal,
            current_password=body.current_password,
            new_password=body.new_password,
            client=client,
        )
    except RejectedAttempt as exc:
        return recorded_failure(exc)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/sessions", response_model=LoginSessionPage)
async def list_sessions(
    principal: CurrentUser, session: SessionDep, params: PageDep
) -> LoginSessionPage:
    families, total = await service.list_sessions(session, principal, params)
    current = service.session_id(principal)
    now = service.now_utc()
    items = [
        LoginSession(
            id=f.id,
            client_id=f.client_id,
            created_at=f.created_at,
            last_used_at=f.last_used_at,
            expires_at=f.expires_at,
            ip=f.ip,
            user_agent=f.user_agent,
            current=f.id == current,
            active=f.revoked_at is None and f.expires_at > now,
            revoked_at=f.revoked_at,
            revoked_reason=f.revoked_reason,
        )
        for f in families
    ]
    return Page.build(items, total, params)


@router.delete(
    "/sessions/{session_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=error_responses(NotFound),
)
async def revoke_session(
    session_id: uuid.UUID, principal: CurrentUser, session: SessionDep, settings: SettingsDep
) -> Response:
    await service.revoke_session(session, settings, principal, session_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/login-history", response_model=LoginHistoryPage)
async def login_history(
    principal: CurrentUser, session: SessionDep, params: PageDep
) -> LoginHistoryPage:
    events, total = await service.login_history(session, principal, params)
    items = [
        LoginHistoryEntry(
            time=e.created_at,
            kind=e.kind,
            ip=e.ip,
            user_agent=e.user_agent,
            success=e.success,
            reason=e.reason,
        )
        for e in events
    ]
    return Page.build(items, total, params)
