"""Every service's SQLAlchemy models describe exactly what its Alembic history builds.

A refactor of the models (shared column helpers, mixins) must not need a new migration:
alembic's autogenerate comparison of the migrated schema against the models finds nothing.
"""

import importlib

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy.ext.asyncio import create_async_engine

from berth_common.migrations import _include_name
from berth_testing.plugin import PlatformDatabase

SERVICES = ("auth", "billing", "deploy", "monitoring", "tickets", "chat")


def _differences(connection, models) -> list:
    context = MigrationContext.configure(
        connection,
        opts={
            "include_schemas": True,
            "include_name": _include_name(models.SCHEMA),
            "compare_type": True,
            "version_table_schema": models.SCHEMA,
        },
    )
    return compare_metadata(context, models.Base.metadata)


@pytest.mark.parametrize("service", SERVICES)
async def test_models_need_no_new_migration(service: str, platform_database: PlatformDatabase):
    models = importlib.import_module(f"berth_{service}.models")
    engine = create_async_engine(platform_database.url)
    try:
        async with engine.connect() as conn:
            diff = await conn.run_sync(_differences, models)
    finally:
        await engine.dispose()
    assert diff == []
