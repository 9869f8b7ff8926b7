"""Auth's OAuth endpoints as the panel's client uses them: tokens issued, and revoked.

The browser's address and agent go along (auth records them on the session) but never a
bearer token: these endpoints authenticate by the grant in the form.
"""

from dataclasses import dataclass, replace
from typing import Any

from berth_frontend.web.backends import Backends, Caller

TOKEN_PATH = "/oauth/token"
REVOKE_PATH = "/oauth/revoke"


@dataclass(frozen=True)
class TokenPair:
    access_token: str
    expires_in: int
    refresh_token: str | None

    @classmethod
    def from_body(cls, body: dict[str, Any]) -> "TokenPair":
        return cls(
            access_token=str(body["access_token"]),
            expires_in=int(body.get("expires_in", 600)),
            refresh_token=body.get("refresh_token"),
        )


def _anonymous(caller: Caller) -> Caller:
    return replace(caller, token=None, idempotency_key=None)


async def issue_tokens(
    backends: Backends, caller: Caller, *, client_id: str, grant: dict[str, str]
) -> TokenPair:
    """A token pair for `grant` (a password or refresh_token grant's form fields)."""
    body = await backends.auth.request(
        "POST", TOKEN_PATH, _anonymous(caller), data={**grant, "client_id": client_id}
    )
    return TokenPair.from_body(body)


async def revoke_token(
    backends: Backends, caller: Caller, *, client_id: str, refresh_token: str
) -> None:
    await backends.auth.request(
        "POST",
        REVOKE_PATH,
        _anonymous(caller),
        data={"token": refresh_token, "client_id": client_id},
    )
