"""Route policy table and path normalisation, without HTTP."""

import pytest

from berth_common.errors import Forbidden, Unauthorized
from berth_common.security import Principal
from berth_gateway.policy import (
    ADMIN,
    ANY_SIGNED_IN,
    ONCALL,
    OPEN,
    AccessKind,
    InvalidPath,
    RoutePolicy,
    Rule,
    any_role,
    authorize,
    normalise_path,
)

POLICY = RoutePolicy()

PERSON = Principal(subject="u1", kind="user", client_id="berth-web", roles=frozenset({"user"}))
ADMIN_PERSON = Principal(
    subject="a1", kind="user", client_id="berth-web", roles=frozenset({"user", "admin"})
)
ONCALL_PERSON = Principal(
    subject="o1", kind="user", client_id="berth-web", roles=frozenset({"oncall"})
)
BILLING_READER = Principal(
    subject="team-x", kind="client", client_id="team-x", scopes=frozenset({"billing:read"})
)


def decide(method: str, uri: str) -> str:
    return POLICY.match(method, normalise_path(uri)).access.describe()


@pytest.mark.parametrize(
    ("method", "uri", "expected"),
    [
        ("POST", "/oauth/token", "public"),
        ("POST", "/oauth/revoke", "public"),
        ("POST", "/oauth/introspect", "public"),
        ("GET", "/.well-known/jwks.json", "public"),
        ("GET", "/.well-known/openid-configuration", "public"),
        ("POST", "/api/auth/v1/register", "public"),
        ("POST", "/api/auth/v1/verify-email?code=123456", "public"),
        ("POST", "/api/auth/v1/resend-code", "public"),
        ("POST", "/api/auth/v1/password-reset", "public"),
        ("POST", "/api/auth/v1/password-reset/confirm", "public"),
        ("GET", "/api/billing/docs", "public"),
        ("GET", "/api/billing/docs/oauth2-redirect", "public"),
        ("GET", "/api/billing/openapi.json", "public"),
        ("GET", "/health", "public"),
        ("GET", "/api/auth/v1/admin/users", "role(admin)"),
        ("GET", "/api/deploy/v1/vps/0b1c/console?token=bvc_x", "authenticated"),
        ("POST", "/api/deploy/v1/vps/0b1c/console", "scope(deploy:{action})"),
        ("POST", "/api/deploy/v1/vps/0b1c/console-tokens", "scope(deploy:{action})"),
        ("GET", "/api/deploy/v1/admin/vps/console-sessions", "role(admin)"),
        ("DELETE", "/api/billing/v1/admin/prices/7", "role(admin)"),
        ("GET", "/api/billing/v1/admin", "role(admin)"),
        ("GET", "/admin/", "role(admin)"),
        ("GET", "/admin/users/42", "role(admin)"),
        ("GET", "/ops/queues/billing", "role(admin | oncall)"),
        ("GET", "/api/billing/v1/accounts/me", "scope({svc}:{action})"),
        ("POST", "/api/deploy/v1/apps", "scope({svc}:{action})"),
        ("GET", "/somewhere/unknown", "authenticated"),
        ("GET", "/", "public"),  # the landing page; only the root itself (see below)
        ("GET", "/api", "authenticated"),
        ("GET", "/oauth/token/extra", "authenticated"),
        ("GET", "/api/auth/v1/registered-devices", "scope({svc}:{action})"),
        # a user's public status page and its read; writing them is not public
        ("GET", "/status/acme-shop", "public"),
        ("HEAD", "/status/acme-shop", "public"),
        ("POST", "/status/acme-shop", "authenticated"),
        ("GET", "/api/monitoring/v1/public/status/acme-shop", "public"),
        ("DELETE", "/api/monitoring/v1/public/status/acme-shop", "scope({svc}:{action})"),
        ("GET", "/api/monitoring/v1/public/status/acme/extra", "scope({svc}:{action})"),
        ("POST", "/api/monitoring/v1/status-pages", "scope({svc}:{action})"),
        ("GET", "/api/monitoring/v1/channels", "scope({svc}:{action})"),
        ("POST", "/api/monitoring/v1/heartbeat/abcDEF123_-xyz", "public"),
        ("GET", "/api/monitoring/v1/heartbeat/abcDEF123_-xyz", "public"),
        ("DELETE", "/api/monitoring/v1/heartbeat/abc", "scope({svc}:{action})"),
        ("GET", "/api/monitoring/v1/heartbeat/abc/more", "scope({svc}:{action})"),
        # git's smart HTTP: deploy checks the app's deploy token (HTTP Basic) itself
        ("GET", "/git/my-app.git/info/refs", "public"),
        ("POST", "/git/my-app.git/git-receive-pack", "public"),
        ("DELETE", "/git/my-app.git/info/refs", "authenticated"),
        ("GET", "/api/monitoring/v1/monitors", "scope({svc}:{action})"),
        ("GET", "/api/monitoring/v1/admin/monitors", "role(admin)"),
    ],
)
def test_policy_table_decides_by_first_matching_rule(method: str, uri: str, expected: str) -> None:
    assert decide(method, uri) == expected


@pytest.mark.parametrize(
    "uri",
    [
        "/api/auth/v1/%61dmin/users",  # percent-encoded letters decode before matching
        "/api/auth/v1/%41DMIN/users",
        "/API/AUTH/V1/ADMIN/USERS",  # case changes do not escape the rule
        "/api/auth/v1/admin/users/",
        "/api/auth/v1/admin/users?x=/public",
    ],
)
def test_admin_rule_cannot_be_dodged_by_encoding(uri: str) -> None:
    assert decide("GET", uri) == "role(admin)"


@pytest.mark.parametrize(
    "uri",
    [
        "/api/x/../auth/v1/admin",
        "/api/x/%2e%2e/auth/v1/admin",
        "/api/x/%2E%2E/auth/v1/admin",
        "/api/auth/v1/./admin/users",
        "/api/auth/v1//admin/users",
        "/api/auth/v1/admin%2fusers",
        "/api/auth%2Fv1/admin/users",
        "/api/auth/v1/admin%5cusers",
        "/api/auth/v1/admin\\users",
        "/api/auth/v1/admin%00/users",
        "/api/auth/v1/%2561dmin/users",  # double encoding
        "/api/auth/v1/admin;jsessionid=1/users",
        "/api/auth/v1/%zz",
        "/api/auth/v1/%ff",  # not UTF-8
        "/api/auth/v1/a\tb",
        "api/auth/v1/admin",
        "",
    ],
)
def test_ambiguous_paths_are_rejected(uri: str) -> None:
    with pytest.raises(InvalidPath) as caught:
        normalise_path(uri)
    assert caught.value.status_code == 400


def test_normalise_keeps_plain_paths_and_drops_the_query() -> None:
    assert normalise_path("/api/billing/v1/invoices?page=2#top") == "/api/billing/v1/invoices"
    assert normalise_path("/api/auth/v1/users/%C3%A9t%C3%A9") == "/api/auth/v1/users/été"
    assert normalise_path("/.well-known/jwks.json") == "/.well-known/jwks.json"


def test_anonymous_needs_a_token_everywhere_but_public_routes() -> None:
    authorize(POLICY.match("POST", "/oauth/token"), None, "POST")
    with pytest.raises(Unauthorized) as caught:
        authorize(POLICY.match("GET", "/api/billing/v1/x"), None, "GET")
    assert "Bearer" in caught.value.headers["WWW-Authenticate"]
    with pytest.raises(Unauthorized):
        authorize(POLICY.match("GET", "/not/in/the/table"), None, "GET")


def test_roles_decide_for_people() -> None:
    admin_route = POLICY.match("GET", "/api/auth/v1/admin/users")
    ops_route = POLICY.match("GET", "/ops/queues")
    authorize(admin_route, ADMIN_PERSON, "GET")
    authorize(ops_route, ONCALL_PERSON, "GET")
    authorize(ops_route, ADMIN_PERSON, "GET")
    with pytest.raises(Forbidden):
        authorize(admin_route, PERSON, "GET")
    with pytest.raises(Forbidden):
        authorize(ops_route, PERSON, "GET")
    with pytest.raises(Forbidden):
        authorize(admin_route, ONCALL_PERSON, "GET")


def test_the_support_desk_is_for_support_and_admins() -> None:
    support = Principal(
        subject="s1", kind="user", client_id="berth-web", roles=frozenset({"user", "support"})
    )
    staff_route = POLICY.match("POST", "/api/tickets/v1/staff/tickets/1/notes")
    assert staff_route.access.describe() == "role(admin | support)"
    authorize(staff_route, support, "POST")
    authorize(staff_route, ADMIN_PERSON, "POST")
    for refused in (PERSON, ONCALL_PERSON):
        with pytest.raises(Forbidden):
            authorize(staff_route, refused, "POST")
    with pytest.raises(Forbidden):  # a differently-cased path meets the same rule
        authorize(POLICY.match("GET", normalise_path("/API/Tickets/v1/STAFF/queue")), PERSON, "GET")
    # the customers' side of the desk is every signed-in person's
    authorize(POLICY.match("POST", "/api/tickets/v1/tickets"), PERSON, "POST")


def test_people_need_no_scope_on_service_apis() -> None:
    authorize(POLICY.match("DELETE", "/api/billing/v1/x"), PERSON, "DELETE")


def test_machine_clients_need_the_service_scope_for_the_method() -> None:
    route = POLICY.match("GET", "/api/billing/v1/invoices")
    assert route.access.kind == AccessKind.SCOPE and route.service == "billing"
    authorize(route, BILLING_READER, "GET")
    authorize(route, BILLING_READER, "HEAD")
    with pytest.raises(Forbidden) as caught:
        authorize(route, BILLING_READER, "POST")
    assert caught.value.code == "insufficient_scope"
    assert caught.value.details == {"required_scope": "billing:write"}
    with pytest.raises(Forbidden):
        authorize(POLICY.match("GET", "/api/deploy/v1/apps"), BILLING_READER, "GET")
    with pytest.raises(Forbidden):
        authorize(POLICY.match("GET", "/API/Billing/v1/admin/x"), BILLING_READER, "GET")


def test_service_scope_uses_the_lower_cased_service_segment() -> None:
    route = POLICY.match("GET", "/API/BILLING/v1/invoices")
    assert route.service == "billing"
    authorize(route, BILLING_READER, "GET")


def test_a_custom_table_is_plain_data() -> None:
    policy = RoutePolicy(
        [
            Rule("/status", OPEN, methods=frozenset({"GET"})),
            Rule("/reports/**", any_role("support", "admin")),
        ],
        default=ANY_SIGNED_IN,
    )
    assert policy.match("GET", "/status").access is OPEN
    assert policy.match("POST", "/status").access is ANY_SIGNED_IN
    assert policy.match("GET", "/reports/2026/11").access.roles == {"support", "admin"}
    assert ADMIN.roles == {"admin"} and ONCALL.roles == {"oncall", "admin"}
