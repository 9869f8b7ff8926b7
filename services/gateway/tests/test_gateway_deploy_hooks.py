"""Deploy's forge webhooks: forges POST to /api/deploy/v1/hooks/<app>/<forge> without a token
(the app's signing secret is the key); nothing else of deploy opens up."""

import pytest

from berth_common.errors import Unauthorized
from berth_gateway.policy import RoutePolicy, authorize, normalise_path

POLICY = RoutePolicy()


def decide(method: str, uri: str) -> str:
    return POLICY.match(method, normalise_path(uri)).access.describe()


def test_forges_post_webhooks_without_a_token() -> None:
    match = POLICY.match("POST", normalise_path("/api/deploy/v1/hooks/0d9f/github"))
    assert match.access.describe() == "public"
    authorize(match, None, "POST")


@pytest.mark.parametrize(
    ("method", "uri", "expected"),
    [
        ("GET", "/api/deploy/v1/hooks/0d9f/github", "scope({svc}:{action})"),
        ("POST", "/api/deploy/v1/hooks/0d9f", "scope({svc}:{action})"),
        ("POST", "/api/deploy/v1/hooks/0d9f/github/extra", "scope({svc}:{action})"),
        ("POST", "/api/deploy/v1/apps/0d9f/webhook-secret", "scope({svc}:{action})"),
        ("GET", "/api/deploy/v1/apps/0d9f/webhook", "scope({svc}:{action})"),
    ],
)
def test_nothing_else_of_deploy_opens_up(method: str, uri: str, expected: str) -> None:
    assert decide(method, uri) == expected
    with pytest.raises(Unauthorized):
        authorize(POLICY.match(method, normalise_path(uri)), None, method)
