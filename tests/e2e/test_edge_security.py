"""The edge as an attacker meets it: forged identity headers, wrong tokens, wrong roles,
machine clients with and without scopes, and junk input on every endpoint."""

import time
import uuid

import httpx
import pytest
from joserfc import jwt
from joserfc.jwk import ECKey
from support import PASSWORD

from berth_testing.oauth import bearer, password_login


def forged_token(platform, **claims) -> str:
    now = int(time.time())
    key = ECKey.generate_key("P-256", auto_kid=True)
    body = {
        "iss": platform.env["BERTH_PUBLIC_URL"],
        "aud": "berth",
        "sub": str(uuid.uuid4()),
        "client_id": "berth-panel",
        "iat": now,
        "exp": now + 300,
        "jti": uuid.uuid4().hex,
        "scope": "",
        "roles": ["user", "admin"],
        **claims,
    }
    return jwt.encode({"alg": "ES256", "typ": "at+jwt", "kid": key.kid}, body, key)


FORGED = {
    "X-User-Id": None,
    "X_User_Id": None,
    "X-User-Roles": "admin",
    "X_User_Roles": "admin",
    "X-User-Kind": "user",
}


def forged_headers(user_id: str) -> dict[str, str]:
    return {k: (v if v is not None else user_id) for k, v in FORGED.items()}


def test_forged_identity_headers_are_ignored(edge, person, admin_token):
    admin_id = edge.get("/api/auth/v1/me", headers=bearer(admin_token)).json()["id"]
    # no token, forged identity: still unauthenticated
    for path in ("/api/auth/v1/me", "/api/auth/v1/admin/users", "/api/auth/v1/me/sessions"):
        r = edge.get(path, headers=forged_headers(admin_id))
        assert r.status_code == 401, (path, r.text)
        assert r.json()["error"]["code"] == "unauthorized"
        assert r.headers["www-authenticate"].lower().startswith("bearer")
    # a real token plus a forged identity: the token wins everywhere
    h = {**bearer(person["access_token"]), **forged_headers(admin_id)}
    assert edge.get("/api/auth/v1/me", headers=h).json()["id"] == person["id"]
    assert edge.get("/api/auth/v1/admin/users", headers=h).status_code == 403
    # public routes still work and ignore the forgery
    r = edge.post(
        "/api/auth/v1/password-reset/request",
        json={"email": person["email"]},
        headers=forged_headers(admin_id),
    )
    assert r.status_code == 202


def test_user_token_on_admin_route_is_refused_at_gateway_and_service(edge, platform, person):
    r = edge.get("/api/auth/v1/admin/users", headers=bearer(person["access_token"]))
    assert r.status_code == 403 and r.json()["error"]["code"] in ("forbidden", "insufficient_scope")
    direct = httpx.get(
        f"{platform.url('auth')}/api/auth/v1/admin/users", headers=bearer(person["access_token"])
    )
    assert direct.status_code == 403 and direct.json()["error"]["code"] == "forbidden"
    # the same path spelled to dodge a prefix rule is refused too
    for dodge in (
        "/api/auth/v1/%61dmin/users",
        "/api/auth/v1//admin/users",
        "/api/auth/v1/me/../admin/users",
    ):
        r = edge.get(dodge, headers=bearer(person["access_token"]))
        assert r.status_code in (400, 403, 404), (dodge, r.status_code)


def test_admin_can_list_search_and_block(edge, admin_token, register_verified):
    email = register_verified()
    r = edge.get(
        "/api/auth/v1/admin/users", params={"q": email.split("@")[0]}, headers=bearer(admin_token)
    )
    assert r.status_code == 200, r.text
    users = r.json()["items"]
    assert [u["email"] for u in users] == [email]
    uid = users[0]["id"]
    assert (
        edge.post(
            f"/api/auth/v1/admin/users/{uid}/block",
            json={"reason": "abuse"},
            headers=bearer(admin_token),
        ).status_code
        == 200
    )
    assert password_login(edge, email, PASSWORD).status_code == 400
    assert (
        edge.post(
            f"/api/auth/v1/admin/users/{uid}/unblock", headers=bearer(admin_token)
        ).status_code
        == 200
    )
    assert password_login(edge, email, PASSWORD).status_code == 200
    r = edge.put(
        f"/api/auth/v1/admin/users/{uid}/roles",
        json={"roles": ["user", "oncall"]},
        headers=bearer(admin_token),
    )
    assert r.status_code == 200 and sorted(r.json()["roles"]) == ["oncall", "user"]
    tokens = password_login(edge, email, PASSWORD).json()
    assert (
        "oncall"
        in edge.get("/api/auth/v1/me", headers=bearer(tokens["access_token"])).json()["roles"]
    )


@pytest.mark.parametrize("kind", ["expired", "garbled", "other_key", "wrong_issuer", "none_alg"])
def test_bad_tokens_are_401_at_the_edge(edge, platform, kind):
    now = int(time.time())
    token = {
        "expired": lambda: forged_token(platform, exp=now - 120, iat=now - 900),
        "garbled": lambda: "eyJhbGciOiJFUzI1NiJ9.garbage.sig",
        "other_key": lambda: forged_token(platform),
        "wrong_issuer": lambda: forged_token(platform, iss="http://evil.example"),
        "none_alg": lambda: "eyJhbGciOiJub25lIiwidHlwIjoiYXQrand0In0.eyJzdWIiOiJ4In0.",
    }[kind]()
    r = edge.get("/api/auth/v1/me", headers=bearer(token))
    assert r.status_code == 401, r.text
    assert r.json()["error"]["code"] == "unauthorized"
    assert "bearer" in r.headers["www-authenticate"].lower()


def test_machine_client_with_and_without_scope(edge, admin_token, person):
    r = edge.post(
        "/api/auth/v1/admin/clients",
        json={"name": "billing team", "scopes": ["auth:read"]},
        headers=bearer(admin_token),
    )
    assert r.status_code == 201, r.text
    reader = r.json()
    r = edge.post(
        "/api/auth/v1/admin/clients",
        json={"name": "metrics team", "scopes": ["billing:read"]},
        headers=bearer(admin_token),
    )
    other = r.json()

    r = edge.post(
        "/oauth/token",
        data={"grant_type": "client_credentials", "scope": "auth:read"},
        auth=(reader["client_id"], reader["client_secret"]),
    )
    assert r.status_code == 200, r.text
    assert "refresh_token" not in r.json()
    token = r.json()["access_token"]
    r = edge.get(f"/api/auth/v1/users/{person['id']}", headers=bearer(token))
    assert r.status_code == 200 and r.json()["email"] == person["email"]

    # asking for a scope the client was not granted
    r = edge.post(
        "/oauth/token",
        data={"grant_type": "client_credentials", "scope": "auth:read"},
        auth=(other["client_id"], other["client_secret"]),
    )
    assert r.status_code == 400 and r.json()["error"] == "invalid_scope"
    # a token without the scope is refused at the gateway
    r = edge.post(
        "/oauth/token",
        data={"grant_type": "client_credentials"},
        auth=(other["client_id"], other["client_secret"]),
    )
    token = r.json()["access_token"]
    r = edge.get(f"/api/auth/v1/users/{person['id']}", headers=bearer(token))
    assert r.status_code == 403
    # a wrong secret
    r = edge.post(
        "/oauth/token",
        data={"grant_type": "client_credentials"},
        auth=(reader["client_id"], "nope"),
    )
    assert r.status_code == 401 and r.json()["error"] == "invalid_client"
    # a person's token on the directory without admin/support role
    assert (
        edge.get(
            f"/api/auth/v1/users/{person['id']}", headers=bearer(person["access_token"])
        ).status_code
        == 403
    )


JUNK_BODIES = [
    b"{not json",
    b"[]",
    b'{"email": 5, "password": null, "name": {"a": 1}}',
    b'{"email": "' + b"a" * 5000 + b'@x.io", "password": "' + b"p" * 5000 + b'"}',
    b'{"email": "x@y.z", "password": "short", "code": "12", "roles": ["god"], "scopes": ["*"]}',
    '{"name": "\u0000\ud800"}'.encode("utf-8", "surrogatepass"),
]


def test_every_endpoint_rejects_malformed_input_with_4xx(edge, platform, admin_token):
    spec = httpx.get(f"{platform.url('auth')}/api/auth/openapi.json").json()
    checked = 0
    for path, ops in spec["paths"].items():
        concrete = (
            path.replace("{user_id}", "not-a-uuid")
            .replace("{client_id}", "nope")
            .replace("{session_id}", "x")
        )
        concrete = concrete.replace("{id}", "not-a-uuid")
        for method in ops:
            if method not in ("post", "put", "patch", "delete", "get"):
                continue
            for body in JUNK_BODIES:
                for ctype in ("application/json", "application/x-www-form-urlencoded"):
                    r = edge.request(
                        method.upper(),
                        concrete,
                        content=body,
                        headers={**bearer(admin_token), "Content-Type": ctype},
                    )
                    assert r.status_code < 500, (
                        method,
                        concrete,
                        body[:40],
                        r.status_code,
                        r.text[:200],
                    )
                    checked += 1
    for path in ("/oauth/token", "/oauth/revoke", "/oauth/introspect"):
        for body in JUNK_BODIES:
            r = edge.post(
                path, content=body, headers={"Content-Type": "application/x-www-form-urlencoded"}
            )
            assert 400 <= r.status_code < 500, (path, r.status_code, r.text[:200])
    assert checked > 50


def test_platform_services_have_their_own_machine_clients(edge, platform):
    """Bootstrap keeps the services' clients from AUTH_SERVICE_CLIENTS; billing may read users."""
    env = platform.env
    r = edge.post(
        "/oauth/token",
        data={"grant_type": "client_credentials", "scope": "auth:read"},
        auth=(env["BILLING_CLIENT_ID"], env["BILLING_CLIENT_SECRET"]),
    )
    assert r.status_code == 200, r.text
    r = edge.post(
        "/oauth/token",
        data={"grant_type": "client_credentials", "scope": "deploy:write"},
        auth=(env["BILLING_CLIENT_ID"], env["BILLING_CLIENT_SECRET"]),
    )
    assert r.status_code == 400 and r.json()["error"] == "invalid_scope"


# --- platform and tenant hosts ------------------------------------------------------------
