"""The gateway's decision alone, in-process (cached token, no rate limit), without and with a
large revocation denylist: a helper of bench/auth_gateway.py, which prints it."""

import json
import time
import uuid

from berth_common.revocation import Denylist, Revocations
from berth_common.security import JWKSCache, TokenVerifier
from berth_gateway.policy import RoutePolicy
from berth_gateway.service import ForwardedRequest, Gatekeeper, VerifiedTokenCache
from berth_testing.oauth import mint_access_token
from berth_testing.platform import Platform


def big_denylist(entries_per_kind: int) -> Denylist:
    """A denylist far fuller than a real one (entries live for one token lifetime)."""
    until = int(time.time()) + 600
    denylist = Denylist()
    denylist.load(
        Revocations.model_validate(
            {
                "sessions": [{"id": f"s-{i}", "until": until} for i in range(entries_per_kind)],
                "clients": [{"id": f"c-{i}", "until": until} for i in range(entries_per_kind)],
                "users": [
                    {"id": f"u-{i}", "not_before": until - 600, "until": until}
                    for i in range(entries_per_kind)
                ],
            }
        )
    )
    return denylist


async def decision_cost(platform: Platform, calls: int, rounds: int = 5) -> dict[str, float]:
    """Microseconds per gateway decision in-process (cached token, no rate limit), best of
    `rounds` alternating runs: without a denylist, and with one of 3 x 10,000 entries."""
    signing = json.loads(platform.env["AUTH_JWT_PRIVATE_JWKS"])
    public = {"keys": [{k: v for k, v in key.items() if k != "d"} for key in signing["keys"]]}
    issuer = platform.env["BERTH_PUBLIC_URL"]
    token = mint_access_token(
        signing, issuer=issuer, subject=str(uuid.uuid4()), session_id=str(uuid.uuid4())
    )
    variants = {"no denylist": None, "denylist, 30,000 entries": big_denylist(10_000)}
    keepers = {}
    for name, denylist in variants.items():
        jwks = JWKSCache("http://unused.invalid/jwks.json")
        jwks.load(public)
        verifier = TokenVerifier(jwks, issuer=issuer, audience="berth", denylist=denylist)
        keepers[name] = Gatekeeper(RoutePolicy(), VerifiedTokenCache(verifier, 30, 10_000), None)
    request = ForwardedRequest("GET", "/api/auth/v1/me", "127.0.0.1", token)
    best = dict.fromkeys(variants, float("inf"))
    for _ in range(rounds):
        for name, keeper in keepers.items():
            await keeper.admit(request)  # warm: token cache, policy cache
            started = time.perf_counter()
            for _ in range(calls):
                await keeper.admit(request)
            best[name] = min(best[name], (time.perf_counter() - started) / calls * 1e6)
    return best
