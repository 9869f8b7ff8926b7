"""Billing's public paths: payment providers POST their signed webhooks without a token, and
visitors read the price list; nothing else of billing opens up. Account tiers: admins set
them, machine clients with billing:read read them."""

import pytest

from berth_common.errors import Forbidden, Unauthorized
from berth_common.security import Principal
from berth_gateway.policy import RoutePolicy, authorize, normalise_path

POLICY = RoutePolicy()


def decide(method: str, uri: str) -> str:
    return POLICY.match(method, normalise_path(uri)).access.describe()


def test_providers_post_webhooks_without_a_token() -> None:
    match = POLICY.match("POST", normalise_path("/api/billing/v1/webhooks/sandbox"))
    assert match.access.describe() == "public"
    authorize(match, None, "POST")  # no principal needed


def test_visitors_read_the_price_list() -> None:
    assert decide("GET", "/api/billing/v1/plans") == "public"
    assert decide("POST", "/api/billing/v1/plans") == "scope({svc}:{action})"
    assert decide("GET", "/api/billing/v1/plans/web-small/prices") == "scope({svc}:{action})"


@pytest.mark.parametrize(
    ("method", "uri", "expected"),
    [
        ("GET", "/api/billing/v1/webhooks/sandbox", "scope({svc}:{action})"),
        ("POST", "/api/billing/v1/webhooks", "scope({svc}:{action})"),
        ("POST", "/api/billing/v1/webhooks/sandbox/extra", "scope({svc}:{action})"),
        ("POST", "/api/billing/v1/topups", "scope({svc}:{action})"),
        ("GET", "/api/billing/v1/sandbox/checkout/abc.123.def", "scope({svc}:{action})"),
        ("POST", "/api/billing/v1/admin/webhooks/sandbox", "role(admin)"),
    ],
)
def test_nothing_else_of_billing_opens_up(method: str, uri: str, expected: str) -> None:
    assert decide(method, uri) == expected
    if expected != "public":
        with pytest.raises(Unauthorized):
            authorize(POLICY.match(method, normalise_path(uri)), None, method)


def test_account_tiers_admins_set_them_and_billing_readers_read_them() -> None:
    person = Principal(subject="u1", kind="user", client_id="berth-web", roles=frozenset({"user"}))
    admin = Principal(
        subject="a1", kind="user", client_id="berth-web", roles=frozenset({"user", "admin"})
    )

    def client(*scopes: str) -> Principal:
        return Principal(subject="t", kind="client", client_id="t", scopes=frozenset(scopes))

    set_tier = POLICY.match("PUT", normalise_path("/api/billing/v1/admin/accounts/a1/tier"))
    assert set_tier.access.describe() == "role(admin)"
    authorize(set_tier, admin, "PUT")
    for refused in (person, client("billing:write", "billing:read")):
        with pytest.raises(Forbidden):
            authorize(set_tier, refused, "PUT")
    read = POLICY.match("GET", normalise_path("/api/billing/v1/accounts/by-owner/u1/tier"))
    assert read.access.describe() == "scope({svc}:{action})"
    authorize(read, client("billing:read"), "GET")
    with pytest.raises(Forbidden):
        authorize(read, client("deploy:read"), "GET")
