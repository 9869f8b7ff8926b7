"""Auth's user directory, asked by a service with its own machine client (scope auth:read):
who a person is (address, name, roles, blocked), for mail and for checks of staff.

Billing (account holders' addresses) and tickets (customers' and agents' addresses and
names, whether someone is support staff) ask it the same way; the answer's fields are
theirs to pick.
"""

import uuid
from typing import Any

import httpx
from loguru import logger
from pydantic import SecretStr

from berth_common.errors import ServiceUnavailable, TransientError
from berth_common.http import ServiceToken

SCOPE = "auth:read"


def directory_token(
    token_url: str, client_id: str | None, client_secret: SecretStr | None, env_prefix: str
) -> ServiceToken:
    """The service's token for the directory; TransientError while its client is not set."""
    if not client_id or not client_secret:
        raise TransientError(f"{env_prefix}_CLIENT_ID/{env_prefix}_CLIENT_SECRET are not set")
    return ServiceToken(token_url, client_id, client_secret.get_secret_value(), scope=SCOPE)


async def lookup_user(
    client: httpx.AsyncClient, token: ServiceToken, auth_url: str, user_id: uuid.UUID
) -> dict[str, Any] | None:
    """The directory's record of the user; None when auth does not know them (any more).
    TransientError when auth cannot answer now (a task retries)."""
    url = f"{auth_url.rstrip('/')}/api/auth/v1/users/{user_id}"
    try:
        resp = await client.get(url, headers=await token.headers(client))
    except (httpx.HTTPError, ServiceUnavailable) as exc:
        raise TransientError(f"auth directory unreachable: {type(exc).__name__}") from exc
    if resp.status_code == 404:
        return None
    if resp.status_code != 200:
        logger.warning("auth directory answered {} for a user lookup", resp.status_code)
        raise TransientError(f"auth directory answered {resp.status_code}")
    try:
        body = resp.json()
    except ValueError:
        body = None
    if not isinstance(body, dict):
        raise TransientError("auth directory answered without a user")
    return body
