"""User administration: search, detail, block/unblock, roles; every change is audited.

Admins may do everything here; support staff may read (they look people up to help them)
but not change anything. Roles are checked here as well as by the router and the gateway.
"""

import uuid

from loguru import logger
from sqlalchemy.ext.asyncio import AsyncSession

from berth_auth.accounts.service import now_utc
from berth_auth.admin.dao import AdminUserDAO
from berth_auth.admin.schemas import UserFilters
from berth_auth.config import AuthSettings
from berth_auth.dao import AuditNoteDAO, RefreshFamilyDAO
from berth_auth.models import AuditNote, User
from berth_auth.revocations import service as revocations
from berth_common.errors import Conflict, Forbidden, NotFound
from berth_common.outbox import publish_event
from berth_common.pagination import PageParams
from berth_common.security import ROLES, Principal, PrincipalKind

READ_ROLES = ("admin", "support")


class SelfModification(Conflict):
    code = "self_modification"


def require_admin(actor: Principal) -> None:
    if actor.kind != PrincipalKind.USER or not actor.has_role("admin"):
        raise Forbidden("Requires role: admin")


def require_reader(actor: Principal) -> None:
    if actor.kind != PrincipalKind.USER or not actor.has_role(*READ_ROLES):
        raise Forbidden("Requires role: admin or support")


async def _locked_user(session: AsyncSession, user_id: uuid.UUID) -> User:
    user = await AdminUserDAO(session).get_for_update(user_id)
    if user is None:
        raise NotFound("User not found")
    return user


async def _audit(
    session: AsyncSession, actor: Principal, user: User, action: str, detail: str = ""
) -> None:
    await AuditNoteDAO(session).create(
        actor_id=actor.subject, user_id=user.id, action=action, detail=detail
    )
    logger.info("admin {} did {} on user {}", actor.subject, action, user.id)


async def list_users(
    session: AsyncSession, actor: Principal, params: PageParams, filters: UserFilters
) -> tuple[list[User], int]:
    require_reader(actor)
    return await AdminUserDAO(session).search(
        params,
        q=filters.q,
        role=filters.role,
        blocked=filters.blocked,
        verified=filters.verified,
    )


async def get_user(
    session: AsyncSession, actor: Principal, user_id: uuid.UUID
) -> tuple[User, int, list[AuditNote]]:
    require_reader(actor)
    users = AdminUserDAO(session)
    user = await users.get_or_404(user_id)
    active = await users.active_sessions(user.id)
    notes = await AuditNoteDAO(session).recent_for_user(user.id)
    return user, active, notes


async def block_user(
    session: AsyncSession,
    actor: Principal,
    user_id: uuid.UUID,
    reason: str,
    *,
    settings: AuthSettings,
) -> User:
    """Blocked: no sign-in, no refresh, and every access token already issued is refused
    within seconds (gateway and services)."""
    require_admin(actor)
    if actor.subject == str(user_id):
        raise SelfModification("You cannot block yourself")
    user = await _locked_user(session, user_id)
    user.is_blocked = True
    user.blocked_reason = reason
    now = now_utc()
    revoked = await RefreshFamilyDAO(session).revoke_all(user.id, "blocked", now)
    await revocations.user_tokens_revoked(session, settings, user, now)
    await _audit(session, actor, user, "user.block", f"{reason} (sessions revoked: {revoked})")
    await publish_event(session, "auth.user.blocked", {"user_id": str(user.id)})
    await session.flush()
    return user


async def unblock_user(session: AsyncSession, actor: Principal, user_id: uuid.UUID) -> User:
    require_admin(actor)
    user = await _locked_user(session, user_id)
    was_blocked = user.is_blocked
    user.is_blocked = False
    user.blocked_reason = None
    await _audit(session, actor, user, "user.unblock", "" if was_blocked else "was not blocked")
    if was_blocked:
        await publish_event(session, "auth.user.unblocked", {"user_id": str(user.id)})
    await session.flush()
    return user


async def set_roles(
    session: AsyncSession,
    actor: Principal,
    user_id: uuid.UUID,
    roles: list[str],
    *,
    settings: AuthSettings,
) -> User:
    """New roles; tokens carrying the old ones are refused within seconds (the panel then
    refreshes its token and gets the new roles)."""
    require_admin(actor)
    wanted = {"user", *roles}  # every account is at least a user
    new_roles = [role for role in ROLES if role in wanted]
    if actor.subject == str(user_id) and "admin" not in new_roles:
        raise SelfModification("You cannot remove your own admin role")
    user = await _locked_user(session, user_id)
    old_roles = list(user.roles)
    user.roles = new_roles
    await _audit(
        session, actor, user, "user.roles", f"{','.join(old_roles)} -> {','.join(new_roles)}"
    )
    if set(old_roles) != set(new_roles):
        await revocations.user_tokens_revoked(session, settings, user, now_utc())
        await publish_event(
            session, "auth.user.roles_changed", {"user_id": str(user.id), "roles": new_roles}
        )
    await session.flush()
    return user
