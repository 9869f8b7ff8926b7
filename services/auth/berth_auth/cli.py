"""Operator commands.

    python -m berth_auth.cli bootstrap           # panel client (+ admin from AUTH_BOOTSTRAP_*)
    python -m berth_auth.cli create-admin EMAIL  # password read from stdin

Both are idempotent; run them after `alembic upgrade head`.
"""

import argparse
import asyncio
import getpass
import json
import sys
from collections.abc import Awaitable, Callable
from typing import TypeVar

from sqlalchemy.ext.asyncio import AsyncSession

from berth_auth.bootstrap import BootstrapError, ensure_admin
from berth_auth.clients.service import ensure_panel_client, ensure_service_client
from berth_auth.config import AuthSettings, get_settings
from berth_auth.models import SCHEMA, Base
from berth_common.db import Database

T = TypeVar("T")


async def _in_transaction(
    settings: AuthSettings, work: Callable[[AsyncSession], Awaitable[T]]
) -> T:
    db = Database(settings.database_url, SCHEMA, metadata=Base.metadata, pool_size=2)
    try:
        # edge: the admin CLI, one transaction per command
        async with db.sessionmaker() as session, session.begin():
            return await work(session)
    finally:
        await db.dispose()


async def bootstrap(settings: AuthSettings) -> list[str]:
    async def work(session: AsyncSession) -> list[str]:
        lines = []
        client, changed = await ensure_panel_client(session, settings.panel_client_id)
        state = "ok" if not changed else "created or repaired"
        if client.revoked_at is not None:
            state = "REVOKED (left as is)"
        lines.append(f"panel client {client.client_id}: {state}")
        for spec in _service_clients(settings):
            changed = await ensure_service_client(
                session, spec["client_id"], spec["secret"], list(spec.get("scopes", []))
            )
            lines.append(f"service client {spec['client_id']}: {'updated' if changed else 'ok'}")
        email = settings.bootstrap_admin_email
        password = settings.bootstrap_admin_password
        if email and password:
            result = await ensure_admin(
                session, email, password.get_secret_value(), reset_password=False
            )
            verb = "created" if result.created else ("updated" if result.changed else "ok")
            lines.append(f"admin {result.email}: {verb}")
        elif email or password:
            lines.append("admin: skipped (set both AUTH_BOOTSTRAP_ADMIN_EMAIL and _PASSWORD)")
        return lines

    return await _in_transaction(settings, work)


def _service_clients(settings: AuthSettings) -> list[dict]:
    if settings.service_clients is None:
        return []
    try:
        specs = json.loads(settings.service_clients.get_secret_value())
    except ValueError as exc:
        raise BootstrapError("AUTH_SERVICE_CLIENTS is not valid JSON") from exc
    if not isinstance(specs, list) or not all(
        isinstance(s, dict) and s.get("client_id") and s.get("secret") for s in specs
    ):
        raise BootstrapError("AUTH_SERVICE_CLIENTS: a list of {client_id, secret, scopes}")
    return specs


async def create_admin(settings: AuthSettings, email: str, password: str) -> str:
    async def work(session: AsyncSession) -> str:
        result = await ensure_admin(session, email, password, reset_password=True)
        return f"admin {result.email}: {'created' if result.created else 'updated'}"

    return await _in_transaction(settings, work)


def _read_password() -> str:
    if sys.stdin.isatty():
        first = getpass.getpass("Password: ")
        if getpass.getpass("Repeat: ") != first:
            raise BootstrapError("passwords do not match")
        return first
    return sys.stdin.readline().rstrip("\r\n")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m berth_auth.cli")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("bootstrap", help="ensure the panel client and the bootstrap admin")
    admin = commands.add_parser("create-admin", help="create or promote an admin")
    admin.add_argument("email")
    args = parser.parse_args(argv)
    settings = get_settings()
    try:
        if args.command == "bootstrap":
            lines = asyncio.run(bootstrap(settings))
        else:
            lines = [asyncio.run(create_admin(settings, args.email, _read_password()))]
    except ValueError as exc:  # BootstrapError and bad service-client specs
        print(f"error: {exc}", file=sys.stderr)
        return 2
    for line in lines:
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
