"""The periodic purge deletes only what is spent, dead or old."""

import uuid
from datetime import UTC, datetime, timedelta

from fixtures_accounts import make_user
from sqlalchemy import select

from berth_auth.accounts.service import purge_expired
from berth_auth.models import LoginEvent, RefreshToken, RefreshTokenFamily, VerificationCode


async def test_purge_deletes_spent_codes_dead_tokens_and_old_events(accounts_db):
    user = await make_user(accounts_db)
    now = datetime.now(UTC)
    long_ago = now - timedelta(days=200)
    async with accounts_db() as session, session.begin():
        codes = {
            "expired_old": VerificationCode(
                user_id=user.id,
                purpose="verify_email",
                code_hash="a",
                expires_at=now - timedelta(days=2),
            ),
            "consumed_old": VerificationCode(
                user_id=user.id,
                purpose="password_reset",
                code_hash="b",
                expires_at=now + timedelta(minutes=5),
                consumed_at=now - timedelta(days=2),
            ),
            "expired_recent": VerificationCode(
                user_id=user.id,
                purpose="verify_email",
                code_hash="c",
                expires_at=now - timedelta(hours=1),
            ),
            "open": VerificationCode(
                user_id=user.id,
                purpose="verify_email",
                code_hash="d",
                expires_at=now + timedelta(minutes=10),
            ),
        }
        families = {
            "expired": RefreshTokenFamily(
                user_id=user.id, client_id="berth-panel", expires_at=now - timedelta(days=1)
            ),
            "long_revoked": RefreshTokenFamily(
                user_id=user.id,
                client_id="berth-panel",
                expires_at=now + timedelta(days=10),
                revoked_at=now - timedelta(days=8),
            ),
            "just_revoked": RefreshTokenFamily(
                user_id=user.id,
                client_id="berth-panel",
                expires_at=now + timedelta(days=10),
                revoked_at=now - timedelta(hours=1),
            ),
            "active": RefreshTokenFamily(
                user_id=user.id, client_id="berth-panel", expires_at=now + timedelta(days=10)
            ),
        }
        session.add_all([*codes.values(), *families.values()])
        await session.flush()
        tokens = {
            name: RefreshToken(
                family_id=family.id,
                token_hash=uuid.uuid4().hex,
                expires_at=family.expires_at,
            )
            for name, family in families.items()
        }
        events = {
            "old": LoginEvent(
                user_id=user.id, email=user.email, kind="login", success=True, created_at=long_ago
            ),
            "recent": LoginEvent(user_id=user.id, email=user.email, kind="login", success=True),
        }
        session.add_all([*tokens.values(), *events.values()])

    async with accounts_db() as session, session.begin():
        counts = await purge_expired(session)
    assert counts["verification_codes"] >= 2
    assert counts["refresh_tokens"] >= 2
    assert counts["login_events"] >= 1

    async with accounts_db() as session:
        left_codes = set(
            (
                await session.execute(
                    select(VerificationCode.id).where(VerificationCode.user_id == user.id)
                )
            ).scalars()
        )
        family_ids = [f.id for f in families.values()]
        left_tokens = set(
            (
                await session.execute(
                    select(RefreshToken.id).where(RefreshToken.family_id.in_(family_ids))
                )
            ).scalars()
        )
        left_events = set(
            (
                await session.execute(select(LoginEvent.id).where(LoginEvent.user_id == user.id))
            ).scalars()
        )
        left_families = set(
            (
                await session.execute(
                    select(RefreshTokenFamily.id).where(RefreshTokenFamily.user_id == user.id)
                )
            ).scalars()
        )
    assert left_codes == {codes["expired_recent"].id, codes["open"].id}
    assert left_tokens == {tokens["just_revoked"].id, tokens["active"].id}
    assert left_events == {events["recent"].id}
    assert left_families == set(family_ids)  # sessions stay listed; only their tokens go
