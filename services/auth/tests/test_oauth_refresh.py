"""The refresh_token grant: rotation, reuse detection, races, and sessions that ended."""

import asyncio
import json
from datetime import UTC, datetime, timedelta

from fixtures_oauth import (
    PANEL,
    family_of,
    login,
    make_machine,
    make_person,
    refresh,
    verify_with_published_keys,
)
from joserfc import jws
from sqlalchemy import func, select, update

from berth_auth.models import RefreshToken, RefreshTokenFamily, User


async def _logged_in(http, sm) -> tuple[User, dict]:
    person = await make_person(sm)
    r = await login(http, person.email)
    assert r.status_code == 200, r.text
    return person, r.json()


def _sid(body: dict) -> str:
    """The session (refresh family) id an access token carries."""
    return json.loads(jws.extract_compact(body["access_token"].encode()).payload)["sid"]


async def test_refresh_rotates_the_token_and_keeps_the_session(
    oauth_http, oauth_db, oauth_settings
):
    person, first = await _logged_in(oauth_http, oauth_db)
    r = await refresh(oauth_http, first["refresh_token"])
    assert r.status_code == 200, r.text
    assert r.headers["cache-control"] == "no-store"
    second = r.json()
    assert second["refresh_token"] != first["refresh_token"]
    assert second["access_token"] != first["access_token"]
    principal = await verify_with_published_keys(oauth_http, oauth_settings, second["access_token"])
    assert principal.subject == str(person.id)
    assert principal.claims["sid"] == _sid(first)  # same login session

    async with oauth_db() as session:
        tokens = (
            (
                await session.execute(
                    select(RefreshToken)
                    .where(RefreshToken.family_id == principal.claims["sid"])
                    .order_by(RefreshToken.created_at)
                )
            )
            .scalars()
            .all()
        )
    assert len(tokens) == 2
    assert tokens[0].used_at is not None and tokens[1].used_at is None
    # the plain token is never stored
    assert first["refresh_token"] not in {t.token_hash for t in tokens}

    third = await refresh(oauth_http, second["refresh_token"])
    assert third.status_code == 200


async def test_reusing_a_rotated_token_revokes_the_whole_family(oauth_http, oauth_db):
    _, first = await _logged_in(oauth_http, oauth_db)
    newest = (await refresh(oauth_http, first["refresh_token"])).json()

    reused = await refresh(oauth_http, first["refresh_token"])
    assert reused.status_code == 400
    assert reused.json()["error"] == "invalid_grant"
    # the revocation was committed even though the request failed
    family = await family_of(oauth_db, _sid(first))
    assert family.revoked_at is not None and family.revoked_reason == "reuse_detected"
    # so the newest token, never used, is dead too
    r = await refresh(oauth_http, newest["refresh_token"])
    assert r.status_code == 400 and r.json()["error"] == "invalid_grant"


async def test_two_simultaneous_refreshes_with_one_token_cannot_both_win(oauth_http, oauth_db):
    for _ in range(3):
        _, first = await _logged_in(oauth_http, oauth_db)
        results = await asyncio.gather(
            *(refresh(oauth_http, first["refresh_token"]) for _ in range(2))
        )
        statuses = sorted(r.status_code for r in results)
        assert statuses == [200, 400], [r.text for r in results]
        async with oauth_db() as session:
            issued = await session.scalar(
                select(func.count())
                .select_from(RefreshToken)
                .where(RefreshToken.family_id == _sid(first))
            )
        assert issued == 2  # the login's token and exactly one successor


async def test_refresh_reflects_the_users_current_roles(oauth_http, oauth_db, oauth_settings):
    person, first = await _logged_in(oauth_http, oauth_db)
    async with oauth_db() as session, session.begin():
        await session.execute(
            update(User).where(User.id == person.id).values(roles=["user", "oncall"])
        )
    r = await refresh(oauth_http, first["refresh_token"])
    principal = await verify_with_published_keys(
        oauth_http, oauth_settings, r.json()["access_token"]
    )
    assert principal.roles == {"user", "oncall"}


async def test_blocked_user_cannot_refresh(oauth_http, oauth_db):
    person, first = await _logged_in(oauth_http, oauth_db)
    async with oauth_db() as session, session.begin():
        await session.execute(update(User).where(User.id == person.id).values(is_blocked=True))
    r = await refresh(oauth_http, first["refresh_token"])
    assert r.status_code == 400 and r.json()["error"] == "invalid_grant"
    # the failed attempt did not consume the token
    async with oauth_db() as session:
        used = await session.scalar(
            select(func.count())
            .select_from(RefreshToken)
            .where(RefreshToken.family_id == _sid(first), RefreshToken.used_at.is_not(None))
        )
    assert used == 0


async def test_revoked_or_expired_sessions_cannot_refresh(oauth_http, oauth_db):
    _, revoked = await _logged_in(oauth_http, oauth_db)
    _, expired = await _logged_in(oauth_http, oauth_db)
    past = datetime.now(UTC) - timedelta(seconds=1)
    async with oauth_db() as session, session.begin():
        await session.execute(
            update(RefreshTokenFamily)
            .where(RefreshTokenFamily.id == _sid(revoked))
            .values(revoked_at=past, revoked_reason="logout")
        )
        await session.execute(
            update(RefreshTokenFamily)
            .where(RefreshTokenFamily.id == _sid(expired))
            .values(expires_at=past)
        )
    for body in (revoked, expired):
        r = await refresh(oauth_http, body["refresh_token"])
        assert r.status_code == 400 and r.json()["error"] == "invalid_grant"
    family = await family_of(oauth_db, _sid(revoked))
    assert family.revoked_reason == "logout"  # not overwritten by the attempt


async def test_unknown_or_foreign_refresh_tokens_are_refused(oauth_http, oauth_db):
    r = await refresh(oauth_http, "not-a-token-we-ever-issued")
    assert r.status_code == 400 and r.json()["error"] == "invalid_grant"

    _, body = await _logged_in(oauth_http, oauth_db)
    client_id, secret = await make_machine(oauth_db, ["deploy:read"])
    r = await oauth_http.post(
        "/oauth/token",
        data={"grant_type": "refresh_token", "refresh_token": body["refresh_token"]},
        auth=(client_id, secret),
    )
    assert r.status_code == 400 and r.json()["error"] == "unauthorized_client"
    # still usable by its own client
    assert (await refresh(oauth_http, body["refresh_token"])).status_code == 200

    r = await oauth_http.post(
        "/oauth/token", data={"grant_type": "refresh_token", "client_id": PANEL}
    )
    assert r.status_code == 400 and r.json()["error"] == "invalid_request"
