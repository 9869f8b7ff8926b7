"""Odd input never reaches a 500; the OpenAPI document lists the declared failures."""

import uuid

from fixtures_accounts import API, bearer, make_user, token_for

ODD_BODIES = [
    b"",
    b"null",
    b"[]",
    b'"text"',
    b"12",
    b"{",
    b'{"email": ["a@b.c"], "password": {"x": 1}}',
    b'{"email": "a\\u0000@example.test", "password": "p\\u0000ssword123", "code": "12\\u00003456"}',
    b'{"email": "' + b"a" * 5000 + b'@example.test", "code": "123456"}',
    b'{"email": "\xff\xfe"}',
    b'{"email": "ok@example.test", "code": 123456, "new_password": 1234567890}',
    b'{"name": "' + "\U0001f680".encode() * 200 + b'", "phone": "+4420794609581234567"}',
]


async def test_odd_bodies_get_4xx_never_500(accounts_http, accounts_db, accounts_settings):
    user = await make_user(accounts_db, roles=("user", "admin"))
    headers = {**bearer(token_for(accounts_settings, user)), "content-type": "application/json"}
    target = uuid.uuid4()
    routes = [
        ("POST", f"{API}/register"),
        ("POST", f"{API}/verify-email"),
        ("POST", f"{API}/resend-code"),
        ("POST", f"{API}/password-reset/request"),
        ("POST", f"{API}/password-reset/confirm"),
        ("PATCH", f"{API}/me"),
        ("POST", f"{API}/me/password"),
        ("POST", f"{API}/admin/users/{target}/block"),
        ("PUT", f"{API}/admin/users/{target}/roles"),
    ]
    for method, path in routes:
        for body in ODD_BODIES:
            response = await accounts_http.request(method, path, content=body, headers=headers)
            assert 400 <= response.status_code < 500, (method, path, body[:60], response.text)
            assert "error" in response.json()


async def test_odd_query_strings_get_4xx_never_500(accounts_http, accounts_db, accounts_settings):
    user = await make_user(accounts_db, roles=("user", "admin"))
    headers = bearer(token_for(accounts_settings, user))
    for query in (
        "page=0",
        "page=abc",
        "size=-1",
        "sort=-",
        "sort=DROP%20TABLE",
        "q=%00",
        "blocked=2",
        "verified=",
        "role=",
    ):
        response = await accounts_http.get(f"{API}/admin/users?{query}", headers=headers)
        assert 400 <= response.status_code < 500, query
    for path in (f"{API}/me/sessions?page=999999999", f"{API}/me/login-history?sort=x"):
        response = await accounts_http.get(path, headers=headers)
        assert response.status_code < 500, path


async def test_openapi_lists_expected_failures(accounts_http):
    response = await accounts_http.get("/api/auth/openapi.json")
    assert response.status_code == 200
    paths = response.json()["paths"]
    assert "409" in paths[f"{API}/register"]["post"]["responses"]
    assert {"400", "429"} <= set(paths[f"{API}/verify-email"]["post"]["responses"])
    assert "404" in paths[f"{API}/me/sessions/{{session_id}}"]["delete"]["responses"]
    assert {"401", "403", "409"} <= set(
        paths[f"{API}/admin/users/{{user_id}}/block"]["post"]["responses"]
    )
