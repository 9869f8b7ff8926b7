"""First-run setup the operator's CLI performs: the panel client and an admin account."""

import asyncio
import re
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncSession

from berth_auth.dao import AuditNoteDAO, UserDAO
from berth_auth.passwords import hash_password

ADMIN_ROLES = ("user", "admin")
PASSWORD_MIN, PASSWORD_MAX = 10, 128
_OPERATOR_EMAIL = re.compile(r"^[^@\s\x00-\x1f\x7f]{1,64}@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+$")


class BootstrapError(ValueError):
    """Input the operator has to fix (bad email, weak password)."""


@dataclass(frozen=True)
class AdminResult:
    email: str
    created: bool
    changed: bool


def normalize_email(raw: str) -> str:
    """Syntax only: the operator may well use a reserved domain (admin@berth.localhost)."""
    value = raw.strip()
    if len(value) > 254 or not _OPERATOR_EMAIL.match(value):
        raise BootstrapError("invalid email: expected local@domain.tld")
    return value.lower()


def check_password(password: str) -> None:
    if not PASSWORD_MIN <= len(password) <= PASSWORD_MAX:
        raise BootstrapError(f"password must be {PASSWORD_MIN}-{PASSWORD_MAX} characters")


async def ensure_admin(
    session: AsyncSession, raw_email: str, password: str, *, reset_password: bool
) -> AdminResult:
    """An admin with roles user+admin and a verified email.

    An existing account is promoted and verified; its password is replaced only when
    `reset_password` (create-admin), so re-running bootstrap never undoes a password change.
    """
    email = normalize_email(raw_email)
    check_password(password)
    users = UserDAO(session)
    user = await users.get_by_email(email)
    now = datetime.now(UTC)
    if user is None:
        user = await users.create(
            email=email,
            password_hash=await asyncio.to_thread(hash_password, password),
            roles=list(ADMIN_ROLES),
            email_verified_at=now,
            password_changed_at=now,
        )
        await AuditNoteDAO(session).note(
            actor_id="cli", action="admin.bootstrap", detail=f"created admin {email}"
        )
        return AdminResult(email, created=True, changed=True)
    changed = False
    roles = sorted(set(user.roles) | set(ADMIN_ROLES))
    if roles != sorted(user.roles):
        user.roles = roles
        changed = True
    if user.email_verified_at is None:
        user.email_verified_at = now
        changed = True
    if reset_password:
        user.password_hash = await asyncio.to_thread(hash_password, password)
        user.password_changed_at = now
        changed = True
    if changed:
        await session.flush()
        await AuditNoteDAO(session).note(
            actor_id="cli",
            action="admin.bootstrap",
            detail=f"promoted {email}" + (" and reset its password" if reset_password else ""),
        )
    return AdminResult(email, created=False, changed=changed)
