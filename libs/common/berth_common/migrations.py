"""Alembic env.py body shared by every service: own schema, own version table.

A service's alembic/env.py is two lines: import its metadata, call run_migrations().
Migrations connect as the service's owner role: MIGRATION_DATABASE_URL, else DATABASE_URL
(a setup with one role for everything). The service's processes use DATABASE_URL, a role
that may read and write rows but not change the schema (berth_common.dbroles).
"""

import asyncio
import os
import re
from pathlib import Path

from alembic import command, context
from alembic.config import Config
from sqlalchemy import MetaData, pool, text
from sqlalchemy.ext.asyncio import create_async_engine

# a day partition (<table>_pYYYYMMDD) belongs to its service's retention task, not to Alembic
_DAY_PARTITION = re.compile(r"_p[0-9]{8}$")


def _include_name(schema: str):
    def include(name: str | None, type_: str, parent_names: dict) -> bool:
        if type_ == "schema":
            return name == schema
        if type_ == "table" and name and _DAY_PARTITION.search(name):
            return False
        return True

    return include


def run_migrations(metadata: MetaData, schema: str) -> None:
    url = (
        context.config.get_main_option("sqlalchemy.url")
        or os.environ.get("MIGRATION_DATABASE_URL")
        or os.environ["DATABASE_URL"]
    )
    opts = dict(
        target_metadata=metadata,
        version_table_schema=schema,
        include_schemas=True,
        include_name=_include_name(schema),
        compare_type=True,
    )
    if context.is_offline_mode():
        context.configure(url=url, literal_binds=True, **opts)
        with context.begin_transaction():
            context.run_migrations()
        return

    def do_run(connection) -> None:
        context.configure(connection=connection, **opts)
        with context.begin_transaction():
            context.run_migrations()

    async def main() -> None:
        engine = create_async_engine(url, poolclass=pool.NullPool)
        async with engine.connect() as conn:
            # the owner role may not create schemas: only make one where none was provisioned
            found = await conn.execute(
                text("SELECT 1 FROM pg_namespace WHERE nspname = :schema"), {"schema": schema}
            )
            if found.first() is None:
                await conn.execute(text(f'CREATE SCHEMA "{schema}"'))
            await conn.commit()  # edge: the migration CLI, the schema before its history
            await conn.run_sync(do_run)
            await conn.commit()  # edge: the migration CLI
        await engine.dispose()

    asyncio.run(main())


def upgrade(service_dir: str | Path, database_url: str, revision: str = "head") -> None:
    """Apply a service's migrations programmatically (dev runner, tests)."""
    cfg = Config(str(Path(service_dir) / "alembic.ini"))
    cfg.set_main_option("script_location", str(Path(service_dir) / "alembic"))
    cfg.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    command.upgrade(cfg, revision)
