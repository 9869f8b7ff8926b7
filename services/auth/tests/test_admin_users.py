"""User administration: who may use it, search and filters, block/unblock, roles, audit."""

import uuid

import pytest
from fixtures_accounts import API, bearer, error_code, fetch_user, make_family, make_user, token_for
from sqlalchemy import select

from berth_auth.admin import service as admin_service
from berth_auth.admin.schemas import UserFilters
from berth_auth.models import AuditNote, RefreshTokenFamily
from berth_auth.tokens import mint_access_token
from berth_common.errors import Forbidden
from berth_common.pagination import PageParams
from berth_common.security import principal_from_claims

ADMIN = f"{API}/admin/users"


@pytest.fixture
async def admin(accounts_db):
    return await make_user(accounts_db, roles=("user", "admin"))


@pytest.fixture
async def admin_headers(admin, accounts_settings):
    return bearer(token_for(accounts_settings, admin))


async def test_people_without_staff_roles_get_403(accounts_http, accounts_db, accounts_settings):
    user = await make_user(accounts_db)
    oncall = await make_user(accounts_db, roles=("user", "oncall"))
    for person in (user, oncall):
        headers = bearer(token_for(accounts_settings, person))
        response = await accounts_http.get(ADMIN, headers=headers)
        assert response.status_code == 403
        assert error_code(response) == "forbidden"
        blocked = await accounts_http.post(
            f"{ADMIN}/{user.id}/block", json={"reason": "x"}, headers=headers
        )
        assert blocked.status_code == 403
    assert (await accounts_http.get(ADMIN)).status_code == 401
    assert not (await fetch_user(accounts_db, user.id)).is_blocked


async def test_the_service_checks_roles_itself(accounts_db, accounts_settings):
    """A caller that skipped the router's dependency still cannot act (defence in depth)."""
    user = await make_user(accounts_db)
    target = await make_user(accounts_db)
    principal = principal_from_claims(
        {"sub": str(user.id), "client_id": "berth-panel", "roles": ["user"], "exp": 0, "jti": "j"}
    )
    support = principal_from_claims(
        {
            "sub": str(user.id),
            "client_id": "berth-panel",
            "roles": ["support"],
            "exp": 0,
            "jti": "j",
        }
    )
    async with accounts_db() as session:
        with pytest.raises(Forbidden):
            await admin_service.list_users(session, principal, PageParams(), UserFilters())
        with pytest.raises(Forbidden):
            await admin_service.block_user(
                session, support, target.id, "nope", settings=accounts_settings
            )
        with pytest.raises(Forbidden):
            await admin_service.set_roles(
                session, support, target.id, ["admin"], settings=accounts_settings
            )
        await session.rollback()


async def test_support_can_read_but_not_change(accounts_http, accounts_db, accounts_settings):
    support = await make_user(accounts_db, roles=("user", "support"))
    target = await make_user(accounts_db)
    headers = bearer(token_for(accounts_settings, support))
    assert (await accounts_http.get(ADMIN, headers=headers)).status_code == 200
    detail = await accounts_http.get(f"{ADMIN}/{target.id}", headers=headers)
    assert detail.status_code == 200
    assert detail.json()["email"] == target.email
    for method, path, body in (
        ("POST", f"{ADMIN}/{target.id}/block", {"reason": "spam"}),
        ("POST", f"{ADMIN}/{target.id}/unblock", None),
        ("PUT", f"{ADMIN}/{target.id}/roles", {"roles": ["user", "admin"]}),
    ):
        response = await accounts_http.request(method, path, json=body, headers=headers)
        assert response.status_code == 403, path
    assert (await fetch_user(accounts_db, target.id)).roles == ["user"]


async def test_machine_clients_get_403(accounts_http, accounts_settings):
    token = mint_access_token(
        accounts_settings, subject="svc", client_id="svc", scope="admin", roles=["admin"]
    ).token
    response = await accounts_http.get(ADMIN, headers=bearer(token))
    assert response.status_code == 403


async def test_search_escapes_like_wildcards(accounts_http, accounts_db, admin_headers):
    tag = uuid.uuid4().hex[:8]
    percent = await make_user(accounts_db, email=f"p{tag}@example.test", name=f"100% {tag}")
    underscore = await make_user(accounts_db, email=f"under_{tag}@example.test")
    await make_user(accounts_db, email=f"plain{tag}@example.test", name=f"1000 {tag}")
    await make_user(accounts_db, email=f"underX{tag}@example.test")

    async def emails(q: str) -> list[str]:
        response = await accounts_http.get(ADMIN, params={"q": q}, headers=admin_headers)
        assert response.status_code == 200
        return [u["email"] for u in response.json()["items"]]

    assert await emails(f"100% {tag}") == [percent.email]
    assert await emails(f"under_{tag}") == [underscore.email]
    assert len(await emails(tag)) == 4
    assert await emails(f"{tag.upper()}@EXAMPLE") != []  # case-insensitive
    assert await emails(f"%{uuid.uuid4().hex}") == []


async def test_filters_and_sort(accounts_http, accounts_db, admin_headers):
    tag = uuid.uuid4().hex[:8]
    a = await make_user(accounts_db, email=f"a-{tag}@example.test", roles=("user", "oncall"))
    b = await make_user(accounts_db, email=f"b-{tag}@example.test", blocked=True)
    c = await make_user(accounts_db, email=f"c-{tag}@example.test", verified=False)

    async def emails(**params) -> list[str]:
        response = await accounts_http.get(
            ADMIN, params={"q": tag, **params}, headers=admin_headers
        )
        assert response.status_code == 200, response.text
        return [u["email"] for u in response.json()["items"]]

    assert await emails(role="oncall") == [a.email]
    assert await emails(blocked="true") == [b.email]
    assert await emails(verified="false") == [c.email]
    assert await emails(blocked="false", verified="true") == [a.email]
    assert await emails(sort="email") == [a.email, b.email, c.email]
    assert await emails(sort="-email") == [c.email, b.email, a.email]
    assert await emails(sort="-created_at") == [c.email, b.email, a.email]
    page = await accounts_http.get(
        ADMIN, params={"q": tag, "size": 2, "page": 2, "sort": "email"}, headers=admin_headers
    )
    assert (page.json()["total"], [u["email"] for u in page.json()["items"]]) == (3, [c.email])

    for bad in (
        {"sort": "password_hash"},
        {"role": "root"},
        {"blocked": "maybe"},
        {"q": ""},
        {"q": "a\x00b"},
        {"q": "x" * 300},
        {"size": 0},
    ):
        response = await accounts_http.get(ADMIN, params=bad, headers=admin_headers)
        assert response.status_code == 422, bad


async def test_block_revokes_sessions_and_is_audited(
    accounts_http, accounts_db, admin, admin_headers
):
    target = await make_user(accounts_db)
    family = await make_family(accounts_db, target.id)

    response = await accounts_http.post(
        f"{ADMIN}/{target.id}/block", json={"reason": "  chargeback fraud "}, headers=admin_headers
    )

    assert response.status_code == 200
    assert (response.json()["is_blocked"], response.json()["blocked_reason"]) == (
        True,
        "chargeback fraud",
    )
    async with accounts_db() as session:
        revoked = await session.get(RefreshTokenFamily, family)
        notes = (
            (await session.execute(select(AuditNote).where(AuditNote.user_id == target.id)))
            .scalars()
            .all()
        )
    assert revoked.revoked_reason == "blocked"
    assert [(n.actor_id, n.action) for n in notes] == [(str(admin.id), "user.block")]
    assert "chargeback fraud" in notes[0].detail

    detail = await accounts_http.get(f"{ADMIN}/{target.id}", headers=admin_headers)
    assert detail.json()["active_sessions"] == 0
    assert [n["action"] for n in detail.json()["audit"]] == ["user.block"]

    unblock = await accounts_http.post(f"{ADMIN}/{target.id}/unblock", headers=admin_headers)
    assert unblock.status_code == 200
    assert (unblock.json()["is_blocked"], unblock.json()["blocked_reason"]) == (False, None)
    stored = await fetch_user(accounts_db, target.id)
    assert not stored.is_blocked


async def test_block_guards(accounts_http, accounts_db, admin, admin_headers):
    self_block = await accounts_http.post(
        f"{ADMIN}/{admin.id}/block", json={"reason": "oops"}, headers=admin_headers
    )
    assert self_block.status_code == 409
    assert error_code(self_block) == "self_modification"
    assert not (await fetch_user(accounts_db, admin.id)).is_blocked
    missing = await accounts_http.post(
        f"{ADMIN}/{uuid.uuid4()}/block", json={"reason": "x"}, headers=admin_headers
    )
    assert missing.status_code == 404
    target = await make_user(accounts_db)
    for body in (
        {},
        {"reason": ""},
        {"reason": "   "},
        {"reason": "r" * 501},
        {"reason": "a", "x": 1},
    ):
        response = await accounts_http.post(
            f"{ADMIN}/{target.id}/block", json=body, headers=admin_headers
        )
        assert response.status_code == 422, body
    assert (
        await accounts_http.get(f"{ADMIN}/not-a-uuid", headers=admin_headers)
    ).status_code == 422


async def test_set_roles(accounts_http, accounts_db, admin, admin_headers):
    target = await make_user(accounts_db)

    response = await accounts_http.put(
        f"{ADMIN}/{target.id}/roles",
        json={"roles": ["admin", "support", "support"]},
        headers=admin_headers,
    )

    assert response.status_code == 200
    assert response.json()["roles"] == ["user", "support", "admin"]
    assert (await fetch_user(accounts_db, target.id)).roles == ["user", "support", "admin"]
    emptied = await accounts_http.put(
        f"{ADMIN}/{target.id}/roles", json={"roles": []}, headers=admin_headers
    )
    assert emptied.json()["roles"] == ["user"]
    async with accounts_db() as session:
        notes = (
            (
                await session.execute(
                    select(AuditNote.detail)
                    .where(AuditNote.user_id == target.id, AuditNote.action == "user.roles")
                    .order_by(AuditNote.created_at)
                )
            )
            .scalars()
            .all()
        )
    assert notes == ["user -> user,support,admin", "user,support,admin -> user"]

    for body in ({"roles": ["root"]}, {"roles": "admin"}, {}, {"roles": ["user"] * 9}):
        response = await accounts_http.put(
            f"{ADMIN}/{target.id}/roles", json=body, headers=admin_headers
        )
        assert response.status_code == 422, body


async def test_admin_cannot_drop_own_admin_role(accounts_http, accounts_db, admin, admin_headers):
    response = await accounts_http.put(
        f"{ADMIN}/{admin.id}/roles", json={"roles": ["user", "support"]}, headers=admin_headers
    )
    assert response.status_code == 409
    assert (await fetch_user(accounts_db, admin.id)).roles == ["user", "admin"]
    keep = await accounts_http.put(
        f"{ADMIN}/{admin.id}/roles", json={"roles": ["admin", "oncall"]}, headers=admin_headers
    )
    assert keep.status_code == 200
    assert keep.json()["roles"] == ["user", "oncall", "admin"]
