"""Auth's user directory as billing and tickets ask it (berth_common.directory)."""

import uuid

import httpx
import pytest
from pydantic import SecretStr

from berth_common.directory import directory_token, lookup_user
from berth_common.errors import TransientError

AUTH = "http://auth.test"


def _client(users: dict[str, httpx.Response]) -> httpx.AsyncClient:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/oauth/token":
            assert b"scope=auth%3Aread" in request.content
            return httpx.Response(200, json={"access_token": "svc", "expires_in": 300})
        assert request.headers["authorization"] == "Bearer svc"
        user_id = request.url.path.rsplit("/", 1)[-1]
        if user_id in users:
            return users[user_id]
        raise httpx.ConnectError("refused", request=request)

    return httpx.AsyncClient(transport=httpx.MockTransport(handler))


async def test_a_user_none_when_unknown_and_transient_when_auth_cannot_answer() -> None:
    known, gone, broken, odd, down = (uuid.uuid4() for _ in range(5))
    client = _client(
        {
            str(known): httpx.Response(200, json={"email": "ada@example.test", "roles": []}),
            str(gone): httpx.Response(404, json={"error": {}}),
            str(broken): httpx.Response(502, text="bad gateway"),
            str(odd): httpx.Response(200, text="not json"),
        }
    )
    token = directory_token(f"{AUTH}/oauth/token", "svc", SecretStr("s3cret"), "TEST")
    async with client:
        assert (await lookup_user(client, token, AUTH, known))["email"] == "ada@example.test"
        assert await lookup_user(client, token, AUTH, gone) is None
        for user_id in (broken, odd, down):
            with pytest.raises(TransientError):
                await lookup_user(client, token, AUTH, user_id)


def test_no_client_configured_is_transient_and_names_the_variables() -> None:
    with pytest.raises(TransientError, match="BILLING_CLIENT_ID/BILLING_CLIENT_SECRET"):
        directory_token("http://auth.test/oauth/token", None, None, "BILLING")
