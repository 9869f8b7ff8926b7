"""Schemathesis against every service's OpenAPI, through Traefik, with real tokens.

Each service's schema is loaded from `/api/<svc>/openapi.json` through Traefik and every
operation is called with generated inputs, valid (positive) and invalid (negative), carrying
the token of whom the route is for: the admin for `/admin/` and the support desk's `/staff/`
routes, else a signed-in person made for this service, and again a machine client holding
the service's scopes (people's routes refuse it with 403, service routes serve it). What must
hold for every response:

- `not_a_server_error`: no 5xx;
- `status_code_conformance`: the status is one the operation documents;
- `content_type_conformance` and `response_schema_conformance`: the body is what it declares;
- `error_shape` (ours): every 4xx body is the shared `{"error": {"code", "message"}}` shape,
  except on the OAuth endpoints (`/oauth/*`), whose errors RFC 6749 fixes as
  `{"error": "<code>"}`.

One answer is counted but not checked: the empty 400 of Traefik's entry point for a path with
an encoded '/', '\\', NUL, ';', '%', '?' or '#' (deploy/traefik/traefik.yml refuses those on
purpose, before any Berth code runs, and Traefik has no way to give that refusal a body; the
400 itself is documented on every operation with a path parameter). Generated path parameters
hold such characters often, so these are printed as "refused at the edge".

Not checked: schemathesis' `negative_data_rejection` and `positive_data_acceptance`. Our
schemas cannot say everything the services check (a referenced app must exist and be the
caller's, a cron expression must parse, a balance must cover a charge), so a valid-looking
input refused with a documented 4xx is right, and a schema-invalid input that a route ignores
(an unknown query parameter) is harmless. Nor `ignored_auth` (tests/e2e/test_edge_security.py
refuses missing, forged and wrong-scope tokens route by route), `use_after_free` and
`ensure_resource_availability` (stateful: they need OpenAPI links, which no service declares),
`response_headers_conformance` (no route declares response headers) or `max_response_time`
(timings on 2 shared cores are for bench/, never pass/fail).

Profiles (`BERTH_FUZZ_PROFILE`): `ci` (default) runs a few examples per operation within a
wall-clock budget per service, so the whole fuzz stays within a few minutes on 2 cores;
`long` (`make fuzz`) runs many examples per operation and a far larger budget. Each service's
test prints the cases run and the failures found, and fails listing every distinct failure.
"""

import os
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import httpx
import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import FailureGroup
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from support import ADMIN_EMAIL, ADMIN_PASSWORD, PASSWORD

from berth_testing.oauth import bearer, password_login

SERVICES = ["auth", "billing", "deploy", "monitoring", "tickets", "chat"]


@dataclass(frozen=True)
class Profile:
    examples: int  # per operation, per generation mode, per token
    budget_seconds: float  # per service


PROFILES = {
    "ci": Profile(examples=6, budget_seconds=30),
    "long": Profile(examples=60, budget_seconds=900),
}


def profile() -> Profile:
    """The chosen profile; BERTH_FUZZ_EXAMPLES and BERTH_FUZZ_BUDGET override its figures."""
    name = os.environ.get("BERTH_FUZZ_PROFILE", "ci")
    if name not in PROFILES:
        raise pytest.UsageError(f"BERTH_FUZZ_PROFILE={name!r}: one of {sorted(PROFILES)}")
    chosen = PROFILES[name]
    return Profile(
        examples=int(os.environ.get("BERTH_FUZZ_EXAMPLES", chosen.examples)),
        budget_seconds=float(os.environ.get("BERTH_FUZZ_BUDGET", chosen.budget_seconds)),
    )


@schemathesis.check
def error_shape(ctx, response, case) -> bool | None:
    """A 4xx answers in the shared error shape (RFC 6749's on the OAuth endpoints)."""
    if not 400 <= response.status_code < 500:
        return None
    try:
        body = response.json()
    except ValueError:
        raise AssertionError(
            f"a {response.status_code} without a JSON body: {response.text[:200]!r}"
        ) from None
    if case.path.startswith("/oauth/"):
        assert isinstance(body.get("error"), str), f"not an RFC 6749 error: {body!r}"
        return None
    error = body.get("error") if isinstance(body, dict) else None
    assert isinstance(error, dict), f"not the shared error shape: {body!r}"
    assert isinstance(error.get("code"), str) and isinstance(error.get("message"), str), body
    return None


# what Traefik's entry point refuses in a path before any Berth code sees it (traefik.yml's
# encodedCharacters): an encoded '/', '\\', NUL, ';', '%', '?' or '#'
TRAEFIK_REFUSED = ("%2f", "%5c", "%00", "%3b", "%25", "%3f", "%23")


def refused_by_traefik(response) -> bool:
    path = urlsplit(response.request.url).path.lower()
    return any(encoded in path for encoded in TRAEFIK_REFUSED)


CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    error_shape,
]


@dataclass
class Tally:
    cases: int = 0
    refused_at_edge: int = 0  # Traefik's empty 400 for an encoded character in the path
    statuses: Counter = field(default_factory=Counter)
    failures: dict[tuple[str, str, int], str] = field(default_factory=dict)

    def record(self, label: str, response: requests.Response, group: FailureGroup) -> None:
        for failure in group.exceptions:
            key = (label, type(failure).__name__, response.status_code)
            if key not in self.failures:
                request = urlsplit(response.request.url)
                self.failures[key] = (
                    f"{failure.title}: {failure.message}\n  request: {request.path}?{request.query}"
                    f"\n  body: {response.text[:300]}"
                )


class Token:
    """An access token signed in again every few minutes (they live 10), so a long run keeps
    calling as the same principal instead of collecting 401s."""

    def __init__(self, sign_in: Callable[[], httpx.Response]) -> None:
        self.sign_in = sign_in
        self.value = ""
        self.at = 0.0

    def headers(self) -> dict[str, str]:
        if time.monotonic() - self.at > 240:
            r = self.sign_in()
            assert r.status_code == 200, r.text
            self.value, self.at = r.json()["access_token"], time.monotonic()
        return bearer(self.value)


def principals(edge: httpx.Client, email: str, service: str) -> dict[str, Token]:
    """The admin, a person of this run, and a machine client holding the service's scopes."""
    admin = Token(lambda: password_login(edge, ADMIN_EMAIL, ADMIN_PASSWORD))
    scopes = {
        "auth": ["auth:read", "auth:introspect"],
    }.get(service, [f"{service}:read", f"{service}:write"])
    r = edge.post(
        "/api/auth/v1/admin/clients",
        json={"name": f"fuzz {service} {uuid.uuid4().hex[:6]}", "scopes": scopes},
        headers=admin.headers(),
    )
    assert r.status_code == 201, r.text
    client = r.json()
    return {
        "admin": admin,
        "person": Token(lambda: password_login(edge, email, PASSWORD)),
        "client": Token(
            lambda: edge.post(
                "/oauth/token",
                data={"grant_type": "client_credentials", "scope": " ".join(scopes)},
                auth=(client["client_id"], client["client_secret"]),
            )
        ),
    }


def tokens_for(path: str, tokens: dict[str, Token]) -> list[Token]:
    segments = path.strip("/").split("/")
    if "admin" in segments or "staff" in segments:
        return [tokens["admin"]]
    return [tokens["person"], tokens["client"]]


def fuzz_operation(operation, token: Token, base_url: str, session, tally: Tally, deadline: float):
    label = operation.label
    for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):

        @given(case=operation.as_strategy(generation_mode=mode))
        @settings(
            max_examples=profile().examples,
            deadline=None,
            database=None,
            derandomize=False,
            phases=[Phase.explicit, Phase.generate],
            suppress_health_check=list(HealthCheck),
        )
        def run(case):
            if time.monotonic() > deadline:
                return
            response = case.call(
                base_url=base_url, session=session, headers=token.headers(), timeout=15
            )
            tally.cases += 1
            tally.statuses[response.status_code] += 1
            if (
                response.status_code == 400
                and not response.content
                and refused_by_traefik(response)
            ):
                tally.refused_at_edge += 1
                return
            try:
                case.validate_response(response, checks=CHECKS)
            except FailureGroup as group:
                tally.record(label, response, group)

        try:
            run()
        except Unsatisfiable:
            # no invalid input exists for an operation without parameters or body
            assert mode == GenerationMode.NEGATIVE


@pytest.mark.timeout(2400)
@pytest.mark.parametrize("service", SERVICES)
def test_fuzz_service_openapi(service, platform, edge, register_verified):
    wanted = os.environ.get("BERTH_E2E_SERVICES")
    if wanted and service not in {s.strip() for s in wanted.split(",")} | {"auth"}:
        pytest.skip(f"{service} is not started in this run (BERTH_E2E_SERVICES)")
    base_url = platform.public_url
    schema = schemathesis.openapi.from_url(f"{base_url}/api/{service}/openapi.json", timeout=20)
    tokens = principals(edge, register_verified(), service)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert operations, f"{service} publishes no operations"
    tally = Tally()
    started = time.monotonic()
    budget = profile().budget_seconds
    with requests.Session() as session:
        runs = [(op, token) for op in operations for token in tokens_for(op.path, tokens)]
        for index, (operation, token) in enumerate(runs):
            # each run gets an equal share of what is left of the budget
            left = budget - (time.monotonic() - started)
            deadline = time.monotonic() + max(left, 0) / (len(runs) - index)
            fuzz_operation(operation, token, base_url, session, tally, deadline)
    elapsed = time.monotonic() - started
    print(
        f"\nfuzz {service}: {len(operations)} operations, {tally.cases} cases "
        f"({tally.refused_at_edge} refused at the edge), {len(tally.failures)} failures "
        f"in {elapsed:.1f} s; statuses {dict(sorted(tally.statuses.items()))}"
    )
    report = "\n".join(
        f"{label} [{check} {status}] {detail}"
        for (label, check, status), detail in sorted(tally.failures.items())
    )
    if report:
        print(report)
    assert not tally.failures, f"{len(tally.failures)} failures in {service}:\n{report}"
