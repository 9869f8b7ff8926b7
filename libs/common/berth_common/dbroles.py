"""One owner role and one runtime role per service schema: the platform's database credentials.

- `<database>_<schema>_owner` owns the schema and everything in it; only the migration step
  (Alembic, MIGRATION_DATABASE_URL) connects as it.
- `<database>_<schema>` is what the service's processes connect as (DATABASE_URL): USAGE on its
  schema, SELECT/INSERT/UPDATE/DELETE on its tables and USAGE/SELECT on its sequences, now and
  for every table a later migration creates (ALTER DEFAULT PRIVILEGES). It owns nothing, so it
  cannot ALTER, DROP or TRUNCATE a table, nor disable a trigger (billing's append-only ledger).
- Nobody but these and the superuser may connect to the database; PUBLIC loses its rights on
  the database and on the `public` schema, and no role gets anything on another schema.

Provisioning is idempotent: it creates what is missing, resets the passwords (rotation), and
hands to the owner whatever an earlier superuser-run migration left owned by someone else.
Passwords reach the server only as SCRAM-SHA-256 verifiers computed here, never in clear text.

Run by the dev runner (embedded PostgreSQL), the test plugin (per-run role names) and, in
production, once per deployment: `python -m berth_common.dbroles auth billing deploy` with
DATABASE_ADMIN_URL and, per schema, <SCHEMA>_DB_PASSWORD / <SCHEMA>_DB_OWNER_PASSWORD set.
"""

import argparse
import asyncio
import base64
import hashlib
import hmac
import os
import re
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection, create_async_engine

_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")
SCRAM_ITERATIONS = 4096  # PostgreSQL's own default (scram_iterations)


class ProvisioningError(RuntimeError):
    pass


def _ident(name: str) -> str:
    """A checked identifier: only the names this module builds, so quoting is plain."""
    if not _NAME.match(name):
        raise ValueError(f"not a valid role, schema or database name: {name!r}")
    return f'"{name}"'


def _literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def scram_sha256_verifier(password: str, *, salt: bytes | None = None) -> str:
    """The verifier PostgreSQL stores for a password (RFC 5802/7677, as pg's own client does).

    ASCII only: SASLprep is then the identity, so the verifier matches what the server derives
    from what clients send."""
    if not password or not password.isascii():
        raise ValueError("database passwords must be non-empty ASCII")
    salt = salt or os.urandom(16)
    salted = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, SCRAM_ITERATIONS)
    client_key = hmac.digest(salted, b"Client Key", "sha256")
    stored_key = hashlib.sha256(client_key).digest()
    server_key = hmac.digest(salted, b"Server Key", "sha256")

    def b64(data: bytes) -> str:
        return base64.b64encode(data).decode()

    return f"SCRAM-SHA-256${SCRAM_ITERATIONS}:{b64(salt)}${b64(stored_key)}:{b64(server_key)}"


@dataclass(frozen=True)
class ServiceRoles:
    schema: str
    owner: str
    owner_password: str
    runtime: str
    runtime_password: str


def role_names(database: str, schema: str) -> tuple[str, str]:
    """(owner, runtime): named after the database too, as roles are cluster-wide."""
    return f"{database}_{schema}_owner", f"{database}_{schema}"


def service_roles(
    database: str, schema: str, *, owner_password: str, runtime_password: str
) -> ServiceRoles:
    owner, runtime = role_names(database, schema)
    for name in (owner, runtime, schema):
        _ident(name)
    return ServiceRoles(schema, owner, owner_password, runtime, runtime_password)


def role_url(admin_url: str, role: str, password: str) -> str:
    """The admin URL (same server and database) with another role's credentials."""
    url = make_url(admin_url).set(username=role, password=password)
    return url.render_as_string(hide_password=False)


def runtime_url(admin_url: str, roles: ServiceRoles) -> str:
    return role_url(admin_url, roles.runtime, roles.runtime_password)


def owner_url(admin_url: str, roles: ServiceRoles) -> str:
    return role_url(admin_url, roles.owner, roles.owner_password)


_ATTRIBUTES = "LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS NOINHERIT"

# Everything in the schema that is not owned by the owner yet (tables made by migrations that
# ran as a superuser, before this scheme) is handed over; owned sequences follow their tables.
_ADOPT = """
DO $adopt$
DECLARE
    target regrole := {owner}::regrole;
    ns regnamespace := {schema}::regnamespace;
    r record;
BEGIN
    FOR r IN
        SELECT c.oid::regclass AS obj,
               CASE c.relkind WHEN 'v' THEN 'VIEW' WHEN 'm' THEN 'MATERIALIZED VIEW'
                              WHEN 'f' THEN 'FOREIGN TABLE' ELSE 'TABLE' END AS kind
        FROM pg_class c
        WHERE c.relnamespace = ns AND c.relkind IN ('r', 'p', 'v', 'm', 'f')
          AND c.relowner <> target
    LOOP
        EXECUTE format('ALTER %s %s OWNER TO %I', r.kind, r.obj, target);
    END LOOP;
    FOR r IN
        SELECT c.oid::regclass AS obj FROM pg_class c
        WHERE c.relnamespace = ns AND c.relkind = 'S' AND c.relowner <> target
    LOOP
        EXECUTE format('ALTER SEQUENCE %s OWNER TO %I', r.obj, target);
    END LOOP;
    FOR r IN
        SELECT p.oid::regprocedure AS obj FROM pg_proc p
        WHERE p.pronamespace = ns AND p.proowner <> target
    LOOP
        EXECUTE format('ALTER ROUTINE %s OWNER TO %I', r.obj, target);
    END LOOP;
    FOR r IN
        SELECT t.oid::regtype AS obj FROM pg_type t
        WHERE t.typnamespace = ns AND t.typowner <> target AND t.typtype IN ('e', 'd', 'r')
    LOOP
        EXECUTE format('ALTER TYPE %s OWNER TO %I', r.obj, target);
    END LOOP;
END
$adopt$
"""


def schema_statements(roles: ServiceRoles) -> list[str]:
    """Schema, ownership and grants for one service (the roles exist)."""
    schema, owner, runtime = _ident(roles.schema), _ident(roles.owner), _ident(roles.runtime)
    dml = "SELECT, INSERT, UPDATE, DELETE"
    return [
        f"CREATE SCHEMA IF NOT EXISTS {schema} AUTHORIZATION {owner}",
        f"ALTER SCHEMA {schema} OWNER TO {owner}",
        _ADOPT.format(owner=_literal(roles.owner), schema=_literal(roles.schema)),
        f"REVOKE ALL ON SCHEMA {schema} FROM PUBLIC",
        f"GRANT USAGE ON SCHEMA {schema} TO {runtime}",
        f"GRANT {dml} ON ALL TABLES IN SCHEMA {schema} TO {runtime}",
        f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA {schema} TO {runtime}",
        f"ALTER DEFAULT PRIVILEGES FOR ROLE {owner} IN SCHEMA {schema} "
        f"GRANT {dml} ON TABLES TO {runtime}",
        f"ALTER DEFAULT PRIVILEGES FOR ROLE {owner} IN SCHEMA {schema} "
        f"GRANT USAGE, SELECT ON SEQUENCES TO {runtime}",
    ]


async def _set_role(conn: AsyncConnection, name: str, password: str) -> None:
    exists = await conn.execute(
        text("SELECT 1 FROM pg_roles WHERE rolname = :name"), {"name": name}
    )
    verb = "ALTER" if exists.first() else "CREATE"
    verifier = scram_sha256_verifier(password)
    try:
        await conn.exec_driver_sql(
            f"{verb} ROLE {_ident(name)} WITH {_ATTRIBUTES} PASSWORD {_literal(verifier)}"
        )
    except DBAPIError as exc:  # the statement text holds the verifier: keep it out of errors
        raise ProvisioningError(f"{verb} ROLE {name} failed: {exc.orig}") from None


async def provision(admin_url: str, services: Sequence[ServiceRoles]) -> None:
    """Create or update every service's roles, schema and grants in admin_url's database."""
    database = make_url(admin_url).database or ""
    engine = create_async_engine(admin_url, isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as conn:
            await conn.exec_driver_sql(f"REVOKE ALL ON DATABASE {_ident(database)} FROM PUBLIC")
            await conn.exec_driver_sql("REVOKE ALL ON SCHEMA public FROM PUBLIC")
            for roles in services:
                await _set_role(conn, roles.owner, roles.owner_password)
                await _set_role(conn, roles.runtime, roles.runtime_password)
                await conn.exec_driver_sql(
                    f"GRANT CONNECT ON DATABASE {_ident(database)} "
                    f"TO {_ident(roles.owner)}, {_ident(roles.runtime)}"
                )
                for statement in schema_statements(roles):
                    await conn.exec_driver_sql(statement)
    finally:
        await engine.dispose()


async def drop_roles(server_url: str, names: Iterable[str]) -> None:
    """Drop roles whose database is gone (their grants and default privileges went with it)."""
    engine = create_async_engine(server_url, isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as conn:
            for name in names:
                await conn.exec_driver_sql(f"DROP ROLE IF EXISTS {_ident(name)}")
    finally:
        await engine.dispose()


def _password(key: str) -> str:
    value = os.environ.get(key, "")
    if not value:
        raise SystemExit(f"{key} is not set")
    return value


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m berth_common.dbroles",
        description="Create or update each service's owner and runtime roles (idempotent).",
    )
    parser.add_argument("schemas", nargs="+", metavar="SCHEMA")
    args = parser.parse_args(argv)
    admin_url = _password("DATABASE_ADMIN_URL")
    database = make_url(admin_url).database or ""
    services = [
        service_roles(
            database,
            schema,
            owner_password=_password(f"{schema.upper()}_DB_OWNER_PASSWORD"),
            runtime_password=_password(f"{schema.upper()}_DB_PASSWORD"),
        )
        for schema in args.schemas
    ]
    asyncio.run(provision(admin_url, services))
    names = ", ".join(f"{s.runtime}/{s.owner}" for s in services)
    print(f"database roles ready in {database}: {names}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
