"""The embedded PostgreSQL of `make run` wants a password from everyone, loopback included,
and a var/pgdata made before that (trust) is converted on start. The dev runner's own code
and the pip-installed server, in a directory of the test's own."""

import asyncio
import secrets
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from berth_common.dbroles import owner_url, provision, service_roles
from berth_common.migrations import upgrade
from berth_devrun.layout import Layout
from berth_devrun.postgres import EmbeddedPostgres
from berth_testing.processes import free_port


class Servers:
    """EmbeddedPostgres instances on one throwaway root, each stopped at the end."""

    def __init__(self, root: Path):
        self.layout = Layout(root)
        self.layout.ensure()
        self.layout.pg_port_file.write_text(f"{free_port()}\n")  # never a real `make run`'s
        self.started: list[EmbeddedPostgres] = []

    def new(self) -> EmbeddedPostgres:
        pg = EmbeddedPostgres(self.layout)
        self.started.append(pg)
        return pg


@pytest.fixture
def servers() -> Iterator[Servers]:
    # under /tmp itself: as root the server runs as another user, who must reach the data
    root = Path(tempfile.mkdtemp(prefix="berth-embedded-pg-"))
    made = Servers(root)
    try:
        yield made
    finally:
        for pg in made.started:
            pg.stop()
        if (made.layout.pgdata / "postmaster.pid").exists():  # a test that failed half-way
            made.new()._pg_ctl("stop", "-m", "immediate", "-w", check=False)
        shutil.rmtree(root, ignore_errors=True)


def connect(port: int, password: str | None) -> psycopg.Connection:
    return psycopg.connect(
        host="127.0.0.1",
        port=port,
        user="postgres",
        password=password,
        dbname="berth",
        connect_timeout=10,
        autocommit=True,
    )


def assert_refused(port: int, password: str | None, message: str) -> None:
    with pytest.raises(psycopg.OperationalError, match=message):
        connect(port, password).close()


def test_the_embedded_postgres_refuses_a_missing_or_wrong_password(servers: Servers):
    password = secrets.token_urlsafe(24)
    pg = servers.new()
    url = pg.start(password)
    assert url.startswith(f"postgresql+asyncpg://postgres:{password}@127.0.0.1:{pg.port}/berth")

    assert_refused(pg.port, None, "no password supplied")
    assert_refused(pg.port, "not-the-password", "password authentication failed")
    with connect(pg.port, password) as conn:
        rules = conn.execute(
            "SELECT type, auth_method FROM pg_hba_file_rules ORDER BY rule_number"
        ).fetchall()
    assert rules == [
        ("local", "scram-sha-256"),
        ("host", "scram-sha-256"),
        ("host", "scram-sha-256"),
    ]


def test_a_trust_data_directory_from_before_is_converted_and_keeps_its_data(servers: Servers):
    # var/pgdata as the runner made it before passwords, its server left running (a runner
    # killed without stopping it): anyone on the machine gets in as the superuser
    legacy = servers.new()
    legacy._prepare_dirs()
    legacy._initdb()
    legacy.port = legacy.planned_port()
    legacy._start_server()
    with psycopg.connect(
        host="127.0.0.1", port=legacy.port, user="postgres", dbname="postgres", autocommit=True
    ) as conn:
        conn.execute('CREATE DATABASE "berth"')
    with connect(legacy.port, None) as conn:
        conn.execute("CREATE TABLE kept (note text)")
        conn.execute("INSERT INTO kept VALUES ('from before')")

    password = secrets.token_urlsafe(24)
    pg = servers.new()
    pg.start(password)
    assert pg.port == legacy.port
    assert_refused(pg.port, None, "no password supplied")
    assert_refused(pg.port, "", "no password supplied")
    with connect(pg.port, password) as conn:
        assert conn.execute("SELECT note FROM kept").fetchall() == [("from before",)]
    pg.stop()

    # POSTGRES_PASSWORD rotated (var/dev-secrets.env deleted): the next start adopts the new one
    rotated = secrets.token_urlsafe(24)
    again = servers.new()
    again.start(rotated)
    assert_refused(again.port, password, "password authentication failed")
    with connect(again.port, rotated) as conn:
        assert conn.execute("SELECT count(*) FROM kept").fetchone() == (1,)


def test_service_roles_and_migrations_work_on_the_embedded_server(servers: Servers, repo_root):
    """The roles' SQL and a service's migrations as its owner on PostgreSQL 18 (the suite's
    other database tests run on the machine's PostgreSQL 15)."""
    pg = servers.new()
    admin = pg.start(secrets.token_urlsafe(24))
    roles = service_roles(
        "berth",
        "billing",
        owner_password=secrets.token_urlsafe(16),
        runtime_password=secrets.token_urlsafe(16),
    )
    asyncio.run(provision(admin, [roles]))
    upgrade(repo_root / "services" / "billing", owner_url(admin, roles))
    asyncio.run(provision(admin, [roles]))  # again, as every `make run` does

    def connect_as(role: str, password: str) -> psycopg.Connection:
        return psycopg.connect(
            host="127.0.0.1", port=pg.port, user=role, password=password, dbname="berth"
        )

    with connect_as(roles.runtime, roles.runtime_password) as conn:
        assert conn.execute("SELECT count(*) FROM billing.ledger_entries").fetchone() == (0,)
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("ALTER TABLE billing.ledger_entries DISABLE TRIGGER ALL")
    with connect_as(roles.runtime, roles.runtime_password) as conn:
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("TRUNCATE billing.ledger_entries")
    with connect_as(roles.runtime, roles.runtime_password) as conn:
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("CREATE TABLE public.planted (a int)")
    with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
        connect_as(roles.runtime, "not-its-password").close()
