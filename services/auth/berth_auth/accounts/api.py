"""Public account endpoints: sign-up, email verification, password reset."""

from fastapi import Response, status

from berth_auth.accounts import service
from berth_auth.accounts.deps import recorded_failure
from berth_auth.accounts.profile.api import router as profile_router
from berth_auth.accounts.schemas import (
    Accepted,
    AccountStatus,
    CodeResend,
    EmailVerification,
    PasswordReset,
    PasswordResetRequest,
    UserCreate,
)
from berth_auth.accounts.service import RejectedAttempt
from berth_auth.deps import ClientDep, SettingsDep
from berth_auth.enums import CodePurpose
from berth_common.db import SessionDep
from berth_common.errors import Conflict, RateLimited, error_responses
from berth_common.routing import public_router

# Everything here is public by nature (the caller has no token yet); the authenticated
# /me routes live in profile_router, which is authenticated at router level.
router = public_router(prefix="/api/auth/v1", tags=["accounts"])


@router.post(
    "/register",
    status_code=status.HTTP_201_CREATED,
    response_model=AccountStatus,
    responses=error_responses(Conflict),
)
async def register(body: UserCreate, session: SessionDep, settings: SettingsDep) -> AccountStatus:
    user = await service.register(
        session,
        settings,
        email=body.email,
        password=body.password,
        name=body.name,
        phone=body.phone,
    )
    return AccountStatus(id=user.id, email=user.email, email_verified=False)


@router.post(
    "/verify-email",
    response_model=AccountStatus,
    responses=error_responses(RejectedAttempt, RateLimited),
)
async def verify_email(
    body: EmailVerification, session: SessionDep, settings: SettingsDep, client: ClientDep
):
    try:
        user = await service.verify_email(
            session, settings, email=body.email, code=body.code, client=client
        )
    except RejectedAttempt as exc:
        return recorded_failure(exc)
    return AccountStatus(id=user.id, email=user.email, email_verified=True)


@router.post("/resend-code", status_code=status.HTTP_202_ACCEPTED, response_model=Accepted)
async def resend_code(body: CodeResend, session: SessionDep, settings: SettingsDep) -> Accepted:
    await service.send_code(session, settings, email=body.email, purpose=body.purpose)
    return Accepted()


@router.post(
    "/password-reset/request", status_code=status.HTTP_202_ACCEPTED, response_model=Accepted
)
async def request_password_reset(
    body: PasswordResetRequest, session: SessionDep, settings: SettingsDep
) -> Accepted:
    await service.send_code(session, settings, email=body.email, purpose=CodePurpose.PASSWORD_RESET)
    return Accepted()


@router.post(
    "/password-reset/confirm",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=error_responses(RejectedAttempt, RateLimited),
)
async def confirm_password_reset(
    body: PasswordReset, session: SessionDep, settings: SettingsDep, client: ClientDep
):
    try:
        await service.reset_password(
            session,
            settings,
            email=body.email,
            code=body.code,
            new_password=body.new_password,
            client=client,
        )
    except RejectedAttempt as exc:
        return recorded_failure(exc)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


router.include_router(profile_router)
