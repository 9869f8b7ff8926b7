"""Cross-service tests run the platform as real processes: Traefik on its own port, the
gateway, auth's web process and worker, and the SMTP sink."""

import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from aiosmtpd.controller import Controller
from support import ADMIN_EMAIL, ADMIN_PASSWORD, PASSWORD, StallingSink, code_from_mail

from berth_testing.broker import isolated_vhost, service_broker_users
from berth_testing.oauth import bearer, password_login
from berth_testing.platform import Platform
from berth_testing.plugin import (
    PlatformDatabase,
    service_credentials,
)
from berth_testing.processes import free_port
from berth_testing.registry import LocalRegistry


def platform_services(repo_root: Path) -> list[str]:
    """Every service with a web app (auth first: the others fetch its keys), or the ones
    named in BERTH_E2E_SERVICES (comma-separated) while a service is being built."""
    found = sorted(p.parent.parent.name for p in repo_root.glob("services/*/berth_*/main.py"))
    wanted = os.environ.get("BERTH_E2E_SERVICES")
    if wanted:
        found = [
            s for s in found if s in {w.strip() for w in wanted.split(",")} | {"auth", "gateway"}
        ]
    return sorted(found, key=lambda s: (s != "auth", s))


@pytest.fixture(scope="session")
def platform(
    repo_root: Path,
    berth_env: dict[str, str],
    platform_database: PlatformDatabase,
    platform_ports,
    tmp_path_factory,
) -> Iterator[Platform]:
    services = platform_services(repo_root)
    with (
        isolated_vhost("berth_e2e") as broker_url,
        service_broker_users(repo_root, broker_url, services) as brokers,
    ):
        # each service as in production: its own database role and broker user
        credentials = service_credentials(platform_database)
        for service, url in brokers.items():
            credentials.setdefault(service, {})["BROKER_URL"] = url
        yield from _run_platform(
            repo_root, berth_env, broker_url, credentials, platform_ports, tmp_path_factory
        )


def _run_platform(repo_root, berth_env, broker_url, credentials, platform_ports, tmp_path_factory):
    # the platform gets its own vhost: its workers must not eat the in-process tests' messages
    env = {
        **berth_env,
        "BROKER_URL": broker_url,
        "AUTH_BOOTSTRAP_ADMIN_EMAIL": ADMIN_EMAIL,
        "AUTH_BOOTSTRAP_ADMIN_PASSWORD": ADMIN_PASSWORD,
        # small limits so brute-force protection is observable within a test
        "AUTH_LOGIN_MAX_FAILURES_PER_ACCOUNT": "5",
        "AUTH_LOGIN_MAX_FAILURES_PER_ACCOUNT_IP": "5",
        # past 8 wrong guesses at an account from anywhere, each attempt waits 1 s
        "AUTH_LOGIN_BACKSTOP_FAILURES": "8",
        "AUTH_LOGIN_BACKSTOP_DELAY_SECONDS": "1",
        # apps in e2e tests deploy from local git repositories (file://) made under the run's
        # temporary directory
        "DEPLOY_LOCAL_REPOS_DIR": str(tmp_path_factory.getbasetemp()),
        # every e2e request reaches Traefik from 127.0.0.1: one anonymous budget for the whole
        # run (browser page loads, sign-up forms); the limit itself is tested in services/gateway
        "GATEWAY_RATE_LIMIT_ANONYMOUS": "3000/minute",
        # the OpenAPI fuzz (test_fuzz_openapi) calls as one person or client far faster than
        # 600/minute; the per-principal limit itself is tested in services/gateway
        "GATEWAY_RATE_LIMIT_AUTHENTICATED": "60000/minute",
        # deploy: Traefik by address (not localhost); short leases and restart backoffs so a
        # lost worker and a crash loop are noticed within a test
        "DEPLOY_TRAEFIK_ENTRY_URL": f"http://127.0.0.1:{platform_ports['traefik']}",
        "DEPLOY_LEASE_SECONDS": "6",
        "DEPLOY_HEARTBEAT_SECONDS": "1",
        "DEPLOY_RESTART_BACKOFF_SECONDS": "0.3",
        "DEPLOY_CRASH_LOOP_THRESHOLD": "3",
        # apps per person come from billing's plans; a run without billing (BERTH_E2E_SERVICES)
        # falls back to this, and a test module's people make more apps than the default 5
        "DEPLOY_APP_QUOTA_FALLBACK": "50",
        # VPSes: the debootstrapped Debian image is built once and kept across runs (var/ is
        # the checkout's state, not committed)
        "DEPLOY_VPS_IMAGES_DIR": str(repo_root / "var" / "vps-images"),
        # container apps pull from the run's own registry on loopback (berth_testing.registry),
        # over plain HTTP; it is the only registry allowed
        "DEPLOY_CONTAINER_REGISTRIES": f"127.0.0.1:{platform_ports['registry']}",
        "DEPLOY_CONTAINER_INSECURE_REGISTRIES": f"127.0.0.1:{platform_ports['registry']}",
        # queue pages: a sample every 2 s, so a queue filling and draining shows within a test
        "MONITORING_QUEUE_SAMPLE_SECONDS": "2",
        "MONITORING_QUEUE_EVENTS_FLUSH_SECONDS": "1",
    }
    # plat.env keeps the run's own URLs (superuser, guest) for tests to seed and inspect with
    plat = Platform(
        repo_root, env, platform_ports, tmp_path_factory.mktemp("platform"), credentials
    )
    subprocess.run(
        [sys.executable, "-m", "berth_auth.cli", "bootstrap"],
        env=plat.env_for("auth"),
        check=True,
        cwd=repo_root,
    )

    def shutdown() -> None:
        plat.stop()
        # deploy's apps outlive its processes by design: end the apps this run deployed
        if "deploy" in platform_services(repo_root):
            subprocess.run(
                [sys.executable, "-m", "berth_deploy.cli", "drain", "--grace", "1"],
                env=plat.env_for("deploy"),
                cwd=repo_root,
                check=False,
            )

    _RUNNING.append(shutdown)
    try:
        plat.start_mail()
        for service in platform_services(repo_root):
            plat.start_web(service)
            if (repo_root / f"services/{service}/berth_{service}/worker.py").exists():
                # monitoring's check run holds one worker slot for its whole run (as the
                # Procfile's concurrency 2 allows): the sampler, deliveries and events take the other
                plat.start_worker(service, concurrency=2 if service == "monitoring" else 1)
        plat.start_traefik()
        yield plat
    finally:
        if shutdown in _RUNNING:
            _RUNNING.remove(shutdown)
            shutdown()


# The platform shares the run's database with the in-process tests collected after it: its
# outbox relays would publish their rows to its own workers, and its workers and node
# supervisor would claim their operations and deliveries. So it stops right after the last
# test that uses it, not at the end of the session.
_RUNNING: list = []  # the running platform's shutdown
_LAST_PLATFORM_TEST: list[str] = []


def pytest_collection_modifyitems(session, config, items) -> None:
    users = [item.nodeid for item in items if "platform" in getattr(item, "fixturenames", ())]
    _LAST_PLATFORM_TEST[:] = users[-1:]


@pytest.hookimpl(trylast=True)
def pytest_runtest_teardown(item, nextitem) -> None:
    """After the default teardown (the last module's fixtures are gone by now)."""
    if nextitem is not None and _LAST_PLATFORM_TEST == [item.nodeid] and _RUNNING:
        _RUNNING.pop()()


@pytest.fixture
def edge(platform: Platform) -> Iterator[httpx.Client]:
    """A client that talks to the platform only through Traefik, as a browser or team would."""
    with httpx.Client(base_url=platform.public_url, timeout=20) as client:
        yield client


@pytest.fixture(scope="session")
def register_verified(platform: Platform):
    """Make a person with a verified email the way a person does: register, read mail, verify."""

    def make(password: str = PASSWORD) -> str:
        email = f"person-{uuid.uuid4().hex[:8]}@example.test"
        with httpx.Client(base_url=platform.public_url, timeout=20) as edge:
            r = edge.post(
                "/api/auth/v1/register", json={"email": email, "password": password, "name": "Ada"}
            )
            assert r.status_code == 201, r.text
            code = code_from_mail(platform, email)
            r = edge.post("/api/auth/v1/verify-email", json={"email": email, "code": code})
            assert r.status_code == 200, r.text
        return email

    return make


@pytest.fixture(scope="module")
def admin_token(platform: Platform) -> str:
    with httpx.Client(base_url=platform.public_url, timeout=20) as c:
        r = password_login(c, ADMIN_EMAIL, ADMIN_PASSWORD)
        assert r.status_code == 200, r.text
        return r.json()["access_token"]


@pytest.fixture(scope="session")
def signed_in(platform: Platform, register_verified):
    """Make a verified person signed in by password (a deploy_e2e.Person: email, id, headers)."""
    from deploy_e2e import sign_in

    def make():
        with httpx.Client(base_url=platform.public_url, timeout=20) as edge:
            return sign_in(edge, register_verified())

    return make


@pytest.fixture(scope="module")
def deploy_node(platform: Platform) -> Iterator[None]:
    """The deploy node supervisor for a module's apps; the apps it ran are killed after it."""
    from deploy_e2e import ensure_supervisor, kill_apps

    ensure_supervisor(platform)
    yield
    kill_apps(platform)


@pytest.fixture(scope="session")
def local_registry(platform_ports, tmp_path_factory) -> Iterator[LocalRegistry]:
    """The run's OCI registry (the one DEPLOY_CONTAINER_REGISTRIES allows), on loopback."""
    with LocalRegistry(platform_ports["registry"], tmp_path_factory.mktemp("registry")) as reg:
        yield reg


@pytest.fixture(scope="module")
def person(platform, register_verified) -> dict:
    """A verified person signed in by password: email, id and their tokens (modules that
    need someone else define their own `person`)."""
    with httpx.Client(base_url=platform.public_url, timeout=20) as c:
        email = register_verified()
        tokens = password_login(c, email, PASSWORD).json()
        me = c.get("/api/auth/v1/me", headers=bearer(tokens["access_token"])).json()
        return {"email": email, "id": me["id"], **tokens}


@pytest.fixture
def stalling_sink():
    """A loopback SMTP server that holds each address's first RCPT (StallingSink): (it, port)."""
    sink = StallingSink()
    controller = Controller(sink, hostname="127.0.0.1", port=free_port())
    controller.start()
    yield sink, controller.port
    controller.stop()
