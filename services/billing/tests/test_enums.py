"""The StrEnums of billing's statuses and kinds hold exactly what the database allows."""

import re

import pytest
from fixtures_billing import sql

from berth_billing.enums import AccountKind, InvoiceKind, InvoiceStatus


async def _allowed(db, table: str, column: str) -> set[str]:
    """The quoted values of the CHECK constraint that lists `column IN (...)`."""
    rows = await sql(
        db,
        "SELECT pg_get_constraintdef(oid) FROM pg_constraint "
        "WHERE conrelid = CAST(:t AS regclass) AND contype = 'c'",
        t=f"billing.{table}",
    )
    for (definition,) in rows:
        if re.search(rf"\b{column}\b.*(ANY|IN)", definition) and "=" in definition:
            values = set(re.findall(r"'([a-z_]+)'", definition))
            if len(values) > 1:
                return values
    raise AssertionError(f"no CHECK constraint lists the values of {table}.{column}")


@pytest.mark.parametrize(
    ("table", "column", "enum"),
    [
        ("accounts", "kind", AccountKind),
        ("invoices", "kind", InvoiceKind),
        ("invoices", "status", InvoiceStatus),
    ],
)
async def test_enum_values_are_the_database_constraint(billing_db, table, column, enum):
    assert await _allowed(billing_db, table, column) == {member.value for member in enum}
