"""The fault suite's platform: every service as real processes, like tests/conftest.py's, but
on a PostgreSQL cluster and a RabbitMQ node of the module's own (berth_testing.faults), so a
test can stop and start them while the machine's shared servers stay untouched.

A module says which workers it needs with `FAULT_WORKERS` (default: none), may narrow the
web apps with `FAULT_SERVICES` (default: every service, or BERTH_E2E_SERVICES; auth and the
gateway always run), and may add settings with `FAULT_ENV`. Counts go to the terminal summary.
Apps deploy from local git repositories under the module's directory (plat.work.parent);
`receiver` and `monitoring_beat` serve the monitoring fault tests.
"""

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from deploy_e2e import kill_apps, start_supervisor
from monitoring_e2e import Receiver, start_monitoring_beat
from support import ADMIN_EMAIL, ADMIN_PASSWORD

from berth_testing.faults import (
    SUMMARY,
    PrivatePostgres,
    PrivateRabbit,
    private_postgres,
    private_rabbit,
)
from berth_testing.platform import Platform
from berth_testing.plugin import (
    PORT_NAMES,
    PlatformDatabase,
    create_platform_database,
    drop_database,
    make_signing_jwks,
    service_credentials,
    service_env,
)
from berth_testing.processes import ManagedProcess, free_port


def pytest_terminal_summary(terminalreporter) -> None:
    if SUMMARY:
        terminalreporter.section("fault suite counts")
        for line in SUMMARY:
            terminalreporter.write_line(line)


class FaultPlatform:
    def __init__(
        self,
        platform: Platform,
        postgres: PrivatePostgres,
        rabbit: PrivateRabbit,
        database: PlatformDatabase,
    ) -> None:
        self.platform = platform
        self.postgres = postgres
        self.rabbit = rabbit
        self.database = database


def _services(repo_root: Path) -> list[str]:
    """As tests/conftest.py's platform: every web app (auth first), or BERTH_E2E_SERVICES."""
    found = sorted(p.parent.parent.name for p in repo_root.glob("services/*/berth_*/main.py"))
    if wanted := os.environ.get("BERTH_E2E_SERVICES"):
        keep = {w.strip() for w in wanted.split(",")} | {"auth", "gateway"}
        found = [s for s in found if s in keep]
    return sorted(found, key=lambda s: (s != "auth", s))


@pytest.fixture(scope="module")
def fault_platform(request, repo_root: Path, tmp_path_factory) -> Iterator[FaultPlatform]:
    work = tmp_path_factory.mktemp("faults")
    workers: tuple[str, ...] = getattr(request.module, "FAULT_WORKERS", ())
    services = _services(repo_root)
    if only := getattr(request.module, "FAULT_SERVICES", None):
        services = [s for s in services if s in {*only, "auth", "gateway"}]
    with private_postgres() as postgres, private_rabbit(work / "rabbit") as rabbit:
        database = create_platform_database(repo_root, "berth_faults", server=postgres.server_url)
        try:
            extra = getattr(request.module, "FAULT_ENV", {})
            yield from _run(repo_root, work, postgres, rabbit, database, services, workers, extra)
        finally:
            drop_database(database.url, postgres.server_url)


def _run(
    repo_root, work, postgres, rabbit, database, services, workers, extra
) -> Iterator[FaultPlatform]:
    ports = {name: free_port() for name in PORT_NAMES}
    var = work / "var"
    env = service_env(
        database_url=database.url,
        broker_url=rabbit.url,
        signing_jwks=make_signing_jwks(),
        ports=ports,
        var=var,
    )
    env.update(
        {
            "AUTH_BOOTSTRAP_ADMIN_EMAIL": ADMIN_EMAIL,
            "AUTH_BOOTSTRAP_ADMIN_PASSWORD": ADMIN_PASSWORD,
            "GATEWAY_RATE_LIMIT_ANONYMOUS": "60000/minute",
            "GATEWAY_RATE_LIMIT_AUTHENTICATED": "60000/minute",
            "DEPLOY_TRAEFIK_ENTRY_URL": f"http://127.0.0.1:{ports['traefik']}",
            "DEPLOY_APP_QUOTA_FALLBACK": "50",
            # apps deploy from local git repositories made under the module's directory
            "DEPLOY_LOCAL_REPOS_DIR": str(work),
            **extra,
        }
    )
    env = {**os.environ, **env}
    # every process on the private servers: each service's own database role, and the broker's
    # guest user on the node's / vhost (a node of this run only)
    plat = Platform(repo_root, env, ports, work / "platform", service_credentials(database))
    plat.ready_timeout = 240  # the suite shares two cores with other runs
    subprocess.run(
        [sys.executable, "-m", "berth_auth.cli", "bootstrap"],
        env=plat.env_for("auth"),
        check=True,
        cwd=repo_root,
    )
    try:
        plat.start_mail()
        plat.start_webs(services)
        for service in workers:
            plat.start_worker(service, concurrency=2 if service == "monitoring" else 1)
        plat.start_traefik()
        yield FaultPlatform(plat, postgres, rabbit, database)
    finally:
        plat.stop()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    """A webhook endpoint on 127.0.0.2 keeping every alert (monitoring_e2e.Receiver)."""
    r = Receiver()
    yield r
    r.server.shutdown()
    r.server.server_close()


@pytest.fixture
def monitoring_beat(fault_platform, tmp_path) -> Iterator[ManagedProcess]:
    """Monitoring's beat, a process of its own: the faults are the worker's and the broker's."""
    proc = start_monitoring_beat(fault_platform.platform, tmp_path)
    yield proc
    proc.stop()


@pytest.fixture(scope="module")
def deploy_node(fault_platform) -> Iterator[None]:
    """Deploy's node supervisor (it reaps expired leases); the apps are stopped after the
    module's tests."""
    plat = fault_platform.platform
    start_supervisor(plat)
    yield
    kill_apps(plat)
