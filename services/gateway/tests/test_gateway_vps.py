"""The VPS routes at the edge: admins only under /admin/vps, signed-in people (or machine
clients with deploy's scopes) under /vps; no VPS route is public."""

import uuid

import pytest

from berth_common.errors import Forbidden, Unauthorized
from berth_common.security import Principal, PrincipalKind
from berth_gateway.policy import RoutePolicy, authorize, normalise_path

POLICY = RoutePolicy()
VPS = "/api/deploy/v1/vps"
ADMIN_VPS = "/api/deploy/v1/admin/vps"
V = "7f0c1a52-2c1e-4c4f-9d8e-2b7b0e1d5a10"


def person(*roles: str) -> Principal:
    return Principal(
        subject=str(uuid.uuid4()),
        kind=PrincipalKind.USER,
        client_id="panel",
        roles=frozenset(roles),
    )


def client(*scopes: str) -> Principal:
    return Principal(
        subject="reporting",
        kind=PrincipalKind.CLIENT,
        client_id="reporting",
        scopes=frozenset(scopes),
    )


def check(method: str, uri: str, who: Principal | None) -> None:
    authorize(POLICY.match(method, normalise_path(uri)), who, method)


@pytest.mark.parametrize(
    ("method", "uri"),
    [
        ("GET", ADMIN_VPS),
        ("GET", f"{ADMIN_VPS}/{V}"),
        ("POST", f"{ADMIN_VPS}/{V}/actions/suspend"),
        ("DELETE", f"{ADMIN_VPS}/{V}"),
        ("GET", f"{ADMIN_VPS.upper()}/{V}"),  # case cannot dodge the rule
    ],
)
def test_admin_vps_routes_need_the_admin_role(method: str, uri: str) -> None:
    assert POLICY.match(method, normalise_path(uri)).pattern == "/api/deploy/v1/admin/vps/**"
    with pytest.raises(Unauthorized):
        check(method, uri, None)
    with pytest.raises(Forbidden):
        check(method, uri, person("user"))
    with pytest.raises(Forbidden):
        check(method, uri, client("deploy:read", "deploy:write"))
    check(method, uri, person("admin"))


@pytest.mark.parametrize(
    ("method", "uri", "scope"),
    [
        ("GET", VPS, "deploy:read"),
        ("GET", f"{VPS}/plans", "deploy:read"),
        ("POST", VPS, "deploy:write"),
        ("POST", f"{VPS}/{V}/actions/reboot", "deploy:write"),
        ("POST", f"{VPS}/{V}/resize", "deploy:write"),
        ("GET", f"{VPS}/{V}/snapshots", "deploy:read"),
        ("DELETE", f"{VPS}/{V}/snapshots/{V}", "deploy:write"),
        ("GET", f"{VPS}/{V}/operations", "deploy:read"),
    ],
)
def test_user_vps_routes_need_a_signed_in_person_or_deploys_scope(
    method: str, uri: str, scope: str
) -> None:
    assert POLICY.match(method, normalise_path(uri)).pattern == "/api/deploy/v1/vps/**"
    with pytest.raises(Unauthorized):
        check(method, uri, None)
    check(method, uri, person("user"))
    check(method, uri, client(scope))
    other = "deploy:write" if scope == "deploy:read" else "deploy:read"
    with pytest.raises(Forbidden):
        check(method, uri, client(other, "billing:read", "billing:write"))
